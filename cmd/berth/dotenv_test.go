package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDotenv(t *testing.T) {
	in := strings.Join([]string{
		"# a comment",
		"",
		"   ",
		"PLAIN=value",
		"EMPTY=",
		"SPACED = spaced value  ",
		"export EXPORTED=1",
		"export\tTABBED=2",
		"exported=lower-case key, not the prefix",
		"COMMENTED=abc # a comment",
		"HASH=abc#def",
		"DOLLAR=$HOME and ${PATH}",
		"EQUALS=a=b=c",
		`SINGLE2=' $HOME \n "kept" '   # comment`,
		`DOUBLE="a \"quoted\" \\ \$HOME\n\t\x"`,
		`MULTI="line 1`,
		`line 2"`,
		`MULTI_SINGLE='-----BEGIN KEY-----`,
		`abc`,
		`-----END KEY-----'`,
		"CRLF=windows\r",
		"LAST=wins",
		"LAST=later",
	}, "\n")
	got, err := parseDotenv("test.env", []byte(in))
	require.NoError(t, err)
	want := []string{
		"PLAIN=value",
		"EMPTY=",
		"SPACED=spaced value",
		"EXPORTED=1",
		"TABBED=2",
		"exported=lower-case key, not the prefix",
		"COMMENTED=abc",
		"HASH=abc#def",
		"DOLLAR=$HOME and ${PATH}",
		"EQUALS=a=b=c",
		`SINGLE2= $HOME \n "kept" `,
		"DOUBLE=a \"quoted\" \\ $HOME\n\t\\x",
		"MULTI=line 1\nline 2",
		"MULTI_SINGLE=-----BEGIN KEY-----\nabc\n-----END KEY-----",
		"CRLF=windows",
		"LAST=wins",
		"LAST=later",
	}
	assert.Equal(t, want, got, "parseDotenv")
	// Only a comment may follow a closing quote.
	_, err = parseDotenv("x.env", []byte(`SINGLE='it''s'`))
	assert.Error(t, err, "text after a closing quote accepted")
}

// Every malformed file is refused with an error that names the file and
// the line, and never holds the line's text (which may hold a secret).
func TestParseDotenvErrorsHoldNoValue(t *testing.T) {
	const secret = "hunter2-s3cr3t"
	for _, c := range []struct {
		doc  string
		line string
	}{
		{"OK=1\n" + secret, ":2:"},
		{"OK=1\n\n" + secret + " more", ":3:"},
		{"=" + secret, ":1:"},
		{"A B=" + secret, ":1:"},
		{"KEY='" + secret, ":1:"},
		{"KEY=\"" + secret + "\nmore", ":1:"},
		{"KEY='" + secret + "' trailing" + secret, ":1:"},
		{"KEY=\"x\"" + secret, ":1:"},
		{"export " + secret, ":1:"},
	} {
		_, err := parseDotenv("s.env", []byte(c.doc))
		if !assert.Error(t, err, "parseDotenv(%q) accepted", c.doc) {
			continue
		}
		assert.Contains(t, err.Error(), "s.env"+c.line, "parseDotenv(%q): the error names the file and line", c.doc)
		assert.NotContains(t, err.Error(), "s3cr3t", "parseDotenv(%q): the error holds the value", c.doc)
	}
}
