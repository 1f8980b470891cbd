package fake

import (
	"fmt"
	"strconv"
	"strings"
)

// The syntax tree of the shell subset (see the package documentation).
type (
	// script is a list of and-or lists, run in order.
	script []*andOr
	// andOr is pipelines joined by && and ||.
	andOr struct {
		first *pipeline
		rest  []andOrTail
	}
	andOrTail struct {
		and bool // && (else ||)
		p   *pipeline
	}
	// pipeline is a single command, maybe negated with !.
	pipeline struct {
		neg bool
		cmd *command
	}
	command struct {
		assigns []assignment
		words   []word
		redirs  []redirect
	}
	assignment struct {
		name  string
		value word
	}
	redirect struct {
		fd     int
		op     string // ">", ">>", ">&", "<", "<&"
		target word
	}
	// word is a sequence of literal and expanded parts.
	word     []wordPart
	wordPart struct {
		lit    string
		quoted bool
		param  *param // non-nil for an expansion
	}
	// param is $NAME, ${NAME} or ${NAME<op>arg}.
	param struct {
		name string
		op   string // "", ":-", "-", ":=", "=", ":+", "+"
		arg  word
	}
)

// syntaxError is a parse error; the shell reports it and exits with 2.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "syntax error: " + e.msg }

func syntaxErr(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}

// keywords are reserved words of sh the subset does not have.
var keywords = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true, "for": true, "while": true,
	"until": true, "do": true, "done": true, "case": true, "esac": true, "{": true, "}": true,
	"function": true, "select": true, "in": true,
}

type parser struct {
	src []rune
	pos int
}

// parseScript parses a whole script.
func parseScript(src string) (script, error) {
	p := &parser{src: []rune(src)}
	var s script
	for {
		p.skipBlanks()
		for !p.eof() && p.peek() == '\n' {
			p.pos++
			p.skipBlanks()
		}
		if p.eof() {
			return s, nil
		}
		ao, err := p.andOr()
		if err != nil {
			return nil, err
		}
		s = append(s, ao)
		p.skipBlanks()
		if p.eof() {
			return s, nil
		}
		switch c := p.peek(); c {
		case ';', '\n':
			p.pos++
		default:
			return nil, p.unexpected()
		}
	}
}

func (p *parser) eof() bool  { return p.pos >= len(p.src) }
func (p *parser) peek() rune { return p.src[p.pos] }

func (p *parser) peekAt(i int) rune {
	if p.pos+i < len(p.src) {
		return p.src[p.pos+i]
	}
	return 0
}

// unexpected reports the token at the current position.
func (p *parser) unexpected() error {
	if p.eof() {
		return syntaxErr("unexpected end of file")
	}
	switch c := p.peek(); c {
	case '\n':
		return syntaxErr("unexpected newline")
	case '|':
		if p.peekAt(1) == '|' {
			return syntaxErr(`unexpected "||"`)
		}
		return syntaxErr("pipes (|) are not supported by the fake shell")
	case '&':
		if p.peekAt(1) == '&' {
			return syntaxErr(`unexpected "&&"`)
		}
		return syntaxErr("background jobs (&) are not supported by the fake shell")
	case '(':
		return syntaxErr("subshells and functions are not supported by the fake shell")
	default:
		return syntaxErr("unexpected %q", string(c))
	}
}

// skipBlanks skips spaces, tabs, line continuations and comments.
func (p *parser) skipBlanks() {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '\\' && p.peekAt(1) == '\n':
			p.pos += 2
		case c == '#':
			for !p.eof() && p.peek() != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *parser) andOr() (*andOr, error) {
	first, err := p.pipeline()
	if err != nil {
		return nil, err
	}
	ao := &andOr{first: first}
	for {
		p.skipBlanks()
		if p.eof() {
			return ao, nil
		}
		var and bool
		switch {
		case p.peek() == '&' && p.peekAt(1) == '&':
			and = true
		case p.peek() == '|' && p.peekAt(1) == '|':
		default:
			return ao, nil
		}
		p.pos += 2
		for {
			p.skipBlanks()
			if p.eof() || p.peek() != '\n' {
				break
			}
			p.pos++
		}
		next, err := p.pipeline()
		if err != nil {
			return nil, err
		}
		ao.rest = append(ao.rest, andOrTail{and: and, p: next})
	}
}

func (p *parser) pipeline() (*pipeline, error) {
	p.skipBlanks()
	pl := &pipeline{}
	if !p.eof() && p.peek() == '!' && (p.peekAt(1) == ' ' || p.peekAt(1) == '\t') {
		pl.neg = true
		p.pos++
	}
	cmd, err := p.command()
	if err != nil {
		return nil, err
	}
	pl.cmd = cmd
	return pl, nil
}

// isMeta reports whether c ends an unquoted word.
func isMeta(c rune) bool {
	return strings.ContainsRune(" \t\r\n;&|<>()", c)
}

func (p *parser) command() (*command, error) {
	c := &command{}
	for {
		p.skipBlanks()
		if p.eof() {
			break
		}
		ch := p.peek()
		if ch == '(' || ch == ')' {
			return nil, p.unexpected()
		}
		if isMeta(ch) && ch != '<' && ch != '>' {
			break
		}
		r, err := p.redirect()
		if err != nil {
			return nil, err
		}
		if r != nil {
			c.redirs = append(c.redirs, *r)
			continue
		}
		w, err := p.word(false)
		if err != nil {
			return nil, err
		}
		if len(c.words) == 0 {
			if a, ok := asAssignment(w); ok {
				c.assigns = append(c.assigns, a)
				continue
			}
			if lit, ok := plainWord(w); ok && keywords[lit] {
				return nil, syntaxErr("%q is not supported by the fake shell", lit)
			}
		}
		c.words = append(c.words, w)
	}
	if len(c.words) == 0 && len(c.assigns) == 0 && len(c.redirs) == 0 {
		return nil, p.unexpected()
	}
	return c, nil
}

// plainWord returns the text of a word made only of unquoted literals.
func plainWord(w word) (string, bool) {
	var b strings.Builder
	for _, part := range w {
		if part.param != nil || part.quoted {
			return "", false
		}
		b.WriteString(part.lit)
	}
	return b.String(), true
}

// asAssignment splits NAME=value.
func asAssignment(w word) (assignment, bool) {
	if len(w) == 0 || w[0].param != nil || w[0].quoted {
		return assignment{}, false
	}
	name, rest, ok := strings.Cut(w[0].lit, "=")
	if !ok || !isName(name) {
		return assignment{}, false
	}
	value := word{}
	if rest != "" {
		value = append(value, wordPart{lit: rest})
	}
	value = append(value, w[1:]...)
	return assignment{name: name, value: value}, true
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// redirect parses [N]>FILE, [N]>>FILE, [N]>&M, [N]<FILE, or returns nil.
func (p *parser) redirect() (*redirect, error) {
	start := p.pos
	for !p.eof() && p.peek() >= '0' && p.peek() <= '9' {
		p.pos++
	}
	if p.eof() || (p.peek() != '>' && p.peek() != '<') {
		p.pos = start
		return nil, nil
	}
	r := &redirect{fd: -1}
	if p.pos > start {
		n, err := strconv.Atoi(string(p.src[start:p.pos]))
		if err != nil || n > 9 {
			return nil, syntaxErr("bad file descriptor %q", string(p.src[start:p.pos]))
		}
		r.fd = n
	}
	if p.peek() == '>' {
		p.pos++
		r.op = ">"
		switch p.peekAt(0) {
		case '>':
			r.op = ">>"
			p.pos++
		case '&':
			r.op = ">&"
			p.pos++
		case '|':
			p.pos++
		}
		if r.fd < 0 {
			r.fd = 1
		}
	} else {
		p.pos++
		r.op = "<"
		switch p.peekAt(0) {
		case '<':
			return nil, syntaxErr("here-documents (<<) are not supported by the fake shell")
		case '&':
			r.op = "<&"
			p.pos++
		}
		if r.fd < 0 {
			r.fd = 0
		}
	}
	p.skipBlanks()
	if p.eof() || isMeta(p.peek()) {
		return nil, p.unexpected()
	}
	w, err := p.word(false)
	if err != nil {
		return nil, err
	}
	r.target = w
	return r, nil
}

// word reads a word; inBrace reads the argument of ${NAME op arg}, which
// ends at an unquoted }.
func (p *parser) word(inBrace bool) (word, error) {
	var w word
	lit := func(s string, quoted bool) {
		if n := len(w); n > 0 && w[n-1].param == nil && w[n-1].quoted == quoted {
			w[n-1].lit += s
			return
		}
		w = append(w, wordPart{lit: s, quoted: quoted})
	}
	for !p.eof() {
		c := p.peek()
		switch {
		case inBrace && c == '}':
			return w, nil
		case !inBrace && isMeta(c):
			return w, nil
		case c == '\\':
			p.pos++
			if p.eof() {
				lit(`\`, false)
				continue
			}
			n := p.peek()
			p.pos++
			if n != '\n' {
				lit(string(n), true)
			}
		case c == '\'':
			p.pos++
			start := p.pos
			for !p.eof() && p.peek() != '\'' {
				p.pos++
			}
			if p.eof() {
				return nil, syntaxErr("unterminated quoted string")
			}
			lit(string(p.src[start:p.pos]), true)
			p.pos++
		case c == '"':
			p.pos++
			lit("", true)
			if err := p.doubleQuoted(&w, lit); err != nil {
				return nil, err
			}
		case c == '$':
			if err := p.dollar(&w, false, lit); err != nil {
				return nil, err
			}
		case c == '`':
			return nil, syntaxErr("command substitution (`...`) is not supported by the fake shell")
		default:
			lit(string(c), false)
			p.pos++
		}
	}
	if inBrace {
		return nil, syntaxErr("missing }")
	}
	return w, nil
}

// doubleQuoted reads the rest of a "..." string.
func (p *parser) doubleQuoted(w *word, lit func(string, bool)) error {
	for !p.eof() {
		c := p.peek()
		switch c {
		case '"':
			p.pos++
			return nil
		case '\\':
			n := p.peekAt(1)
			switch n {
			case '$', '`', '"', '\\':
				lit(string(n), true)
				p.pos += 2
			case '\n':
				p.pos += 2
			default:
				lit(`\`, true)
				p.pos++
			}
		case '$':
			if err := p.dollar(w, true, lit); err != nil {
				return err
			}
		case '`':
			return syntaxErr("command substitution (`...`) is not supported by the fake shell")
		default:
			lit(string(c), true)
			p.pos++
		}
	}
	return syntaxErr("unterminated quoted string")
}

// dollar reads an expansion starting at $.
func (p *parser) dollar(w *word, quoted bool, lit func(string, bool)) error {
	p.pos++ // $
	if p.eof() {
		lit("$", quoted)
		return nil
	}
	c := p.peek()
	switch {
	case c == '{':
		p.pos++
		start := p.pos
		if !p.eof() && strings.ContainsRune("?#$!@*-", p.peek()) {
			p.pos++
		} else {
			for !p.eof() && isNameChar(p.peek()) {
				p.pos++
			}
		}
		name := string(p.src[start:p.pos])
		if name == "" || p.eof() {
			return syntaxErr("bad substitution")
		}
		pr := &param{name: name}
		if p.peek() != '}' {
			for _, op := range []string{":-", ":=", ":+", "-", "=", "+"} {
				if strings.HasPrefix(string(p.src[p.pos:min(p.pos+2, len(p.src))]), op) {
					pr.op = op
					p.pos += len(op)
					break
				}
			}
			if pr.op == "" {
				return syntaxErr("bad substitution: ${%s%c...} is not supported by the fake shell", name, p.peek())
			}
			arg, err := p.word(true)
			if err != nil {
				return err
			}
			pr.arg = arg
		}
		if p.eof() || p.peek() != '}' {
			return syntaxErr("missing }")
		}
		p.pos++
		*w = append(*w, wordPart{param: pr, quoted: quoted})
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		start := p.pos
		for !p.eof() && isNameChar(p.peek()) {
			p.pos++
		}
		*w = append(*w, wordPart{param: &param{name: string(p.src[start:p.pos])}, quoted: quoted})
	case c >= '0' && c <= '9' || strings.ContainsRune("?#$!@*-", c):
		p.pos++
		*w = append(*w, wordPart{param: &param{name: string(c)}, quoted: quoted})
	case c == '(':
		return syntaxErr("command substitution ($(...)) is not supported by the fake shell")
	default:
		lit("$", quoted)
	}
	return nil
}

func isNameChar(c rune) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
