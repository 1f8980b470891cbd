package main

import (
	"fmt"
	"os"
	"strings"
)

// readDotenv reads the dotenv file at path and returns its entries as
// KEY=VALUE, in the file's order (see parseDotenv).
func readDotenv(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDotenv(path, data)
}

// parseDotenv parses data, the content of the dotenv file name:
//
//   - one KEY=VALUE a line; blank lines and lines starting with # are
//     skipped; "export " before the key is allowed; blanks around the key
//     and before the value are dropped;
//   - an unquoted value ends at the end of the line, or at a # that
//     follows a blank (a comment); blanks at its end are dropped;
//   - a value in single quotes is taken as it is; in double quotes, \n,
//     \r, \t, \", \\ and \$ are unescaped (any other backslash is kept);
//     either may span lines, and only a comment may follow the closing
//     quote.
//
// A key is a letter or '_', then letters, digits, '_', '.' or '-'.
// Nothing is expanded: $NAME is those five characters. Errors name the
// file, the line and at most the key, never a value nor the line's text
// (which may hold one).
func parseDotenv(name string, data []byte) ([]string, error) {
	lines := strings.Split(string(data), "\n")
	var env []string
	for i := 0; i < len(lines); i++ {
		n := i + 1
		line := strings.TrimLeft(strings.TrimSuffix(lines[i], "\r"), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimLeft(rest, " \t")
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimRight(key, " \t")
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: not KEY=VALUE", name, n)
		case !dotenvKey(key):
			return nil, fmt.Errorf("%s:%d: the key is not a variable name (letters, digits, '_', '.', '-')", name, n)
		}
		val = strings.TrimLeft(val, " \t")
		if val == "" || (val[0] != '\'' && val[0] != '"') {
			env = append(env, key+"="+unquoted(val))
			continue
		}
		quote, text := val[0], val[1:]
		end := closingQuote(text, quote)
		for end < 0 {
			if i++; i == len(lines) {
				return nil, fmt.Errorf("%s:%d: %s: unterminated quoted value", name, n, key)
			}
			text += "\n" + strings.TrimSuffix(lines[i], "\r")
			end = closingQuote(text, quote)
		}
		if after := strings.TrimLeft(text[end+1:], " \t"); after != "" && after[0] != '#' {
			return nil, fmt.Errorf("%s:%d: %s: text after the closing quote", name, n, key)
		}
		val = text[:end]
		if quote == '"' {
			val = unescape(val)
		}
		env = append(env, key+"="+val)
	}
	return env, nil
}

// dotenvKey reports whether key is a variable name a dotenv file may set:
// a letter or '_', then letters, digits, '_', '.' or '-'.
func dotenvKey(key string) bool {
	for i, c := range key {
		letter := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !letter && (i == 0 || !(('0' <= c && c <= '9') || c == '.' || c == '-')) {
			return false
		}
	}
	return key != ""
}

// unquoted is an unquoted value without its comment and trailing blanks.
func unquoted(val string) string {
	for j := 1; j < len(val); j++ {
		if val[j] == '#' && (val[j-1] == ' ' || val[j-1] == '\t') {
			val = val[:j]
			break
		}
	}
	return strings.TrimRight(val, " \t")
}

// closingQuote returns the index in s of the quote that closes a value
// opened with quote, or -1. In double quotes, a backslash escapes the next
// character.
func closingQuote(s string, quote byte) int {
	for j := 0; j < len(s); j++ {
		switch {
		case s[j] == quote:
			return j
		case s[j] == '\\' && quote == '"':
			j++
		}
	}
	return -1
}

// unescape resolves the escapes of a double-quoted value.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for j := 0; j < len(s); j++ {
		if s[j] != '\\' || j+1 == len(s) {
			b.WriteByte(s[j])
			continue
		}
		j++
		switch c := s[j]; c {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '\\', '$':
			b.WriteByte(c)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}
