package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The strict decoder (yaml.Decoder.KnownFields) finds unknown keys and
// values of the wrong type; its errors name a line, not a key. decodeError
// names the key path of the node the error is about, found in the
// document's tree: an unknown key by its line and name, a value berth's
// own types refuse by its line and column, and a value of the wrong type
// by decoding the tree again with each node's line made unique.

// valueError is the error of a value berth's own types (Duration, Size)
// refuse; it stops the decoder at once.
type valueError struct {
	line, column int
	msg          string
}

func (e *valueError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// badValue returns the valueError about n.
func badValue(n *yaml.Node, format string, args ...any) error {
	return &valueError{line: n.Line, column: n.Column, msg: fmt.Sprintf(format, args...)}
}

// place is a node of the document and its key path.
type place struct {
	n     *yaml.Node
	path  string
	isKey bool
	line  int // n's line, while wrongTyped renumbers them
}

// places lists the nodes of the document under n with their key paths,
// in document order; aliases are not followed.
func places(n *yaml.Node, path string, out []place) []place {
	out = append(out, place{n: n, path: path})
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				// A key that is no string is about its mapping.
				out = append(out, place{n: k, path: path, isKey: true})
				out = places(v, path, out)
				continue
			}
			p := join(path, k.Value)
			out = append(out, place{n: k, path: p, isKey: true})
			out = places(v, p, out)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			out = places(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
	return out
}

var (
	unknownField = regexp.MustCompile("^line ([0-9]+): field (.*) (not found|already set) in type .*$")
	wrongType    = regexp.MustCompile("^line ([0-9]+): cannot unmarshal (!![a-z]+)(?: `(.*)`)? into (.*)$")
)

// decodeError turns err, from decoding the document doc into a File, into
// an ErrInvalid error naming the key path of the first entry refused.
func decodeError(doc *yaml.Node, err error) error {
	var all []place
	if len(doc.Content) > 0 {
		all = places(doc.Content[0], "", nil)
	}
	var ve *valueError
	if errors.As(err, &ve) {
		for _, p := range all {
			if !p.isKey && p.n.Line == ve.line && p.n.Column == ve.column {
				return fmt.Errorf("%w: %s: %s (line %d)", ErrInvalid, where(p.path), ve.msg, ve.line)
			}
		}
		return fmt.Errorf("%w: %s", ErrInvalid, oneLine(ve))
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, oneLine(err))
	}
	msg := te.Errors[0]
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		what := "unknown key"
		if m[3] == "already set" {
			what = "key given twice"
		}
		for _, p := range all {
			if p.isKey && p.n.Line == line && p.n.Value == m[2] {
				return fmt.Errorf("%w: %s: %s (line %d)", ErrInvalid, p.path, what, line)
			}
		}
		return fmt.Errorf("%w: line %d: %s %q", ErrInvalid, line, what, m[2])
	}
	if m := wrongType.FindStringSubmatch(msg); m != nil {
		if p, ok := wrongTyped(doc, all); ok {
			if p.isKey {
				return fmt.Errorf("%w: %s: want a key that is a string, got %s (line %d)", ErrInvalid, where(p.path), describe(p.n), p.line)
			}
			return fmt.Errorf("%w: %s: want %s, got %s (line %d)", ErrInvalid, where(p.path), want(m[4]), describe(p.n), p.line)
		}
	}
	return fmt.Errorf("%w: %s", ErrInvalid, oneLine(errors.New(msg)))
}

// wrongTyped returns the place of the first value of the wrong type in
// doc, whose nodes are all: it numbers the nodes' lines 1, 2, ... and
// decodes the tree again, so the line of the decoder's first "cannot
// unmarshal" error is the node's number. The strict decoder's first such
// error is about the same node: both decode the same tree in the same
// order, and unknown keys change nothing in it. doc's lines are restored.
func wrongTyped(doc *yaml.Node, all []place) (place, bool) {
	for i := range all {
		all[i].line = all[i].n.Line
		all[i].n.Line = i + 1
	}
	defer func() {
		for _, p := range all {
			p.n.Line = p.line
		}
	}()
	var scratch File
	var te *yaml.TypeError
	if !errors.As(doc.Decode(&scratch), &te) {
		return place{}, false
	}
	for _, msg := range te.Errors {
		if m := wrongType.FindStringSubmatch(msg); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i >= 1 && i <= len(all) {
				return all[i-1], true
			}
		}
	}
	return place{}, false
}

// want says what a value of the Go type named typ is written as.
func want(typ string) string {
	switch {
	case strings.HasPrefix(typ, "[]"):
		return "a list"
	case strings.HasPrefix(typ, "map["), strings.HasPrefix(typ, "config."), strings.HasPrefix(typ, "*config."):
		return "a mapping"
	case typ == "bool":
		return "true or false"
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"):
		return "an integer"
	case strings.HasPrefix(typ, "float"):
		return "a number"
	case typ == "string":
		return "a string"
	}
	return typ
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}
