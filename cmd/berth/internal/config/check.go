package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// check walks the document n against the type of dst and returns an error
// naming the key path of the first unknown key or badly typed value.
func check(n *yaml.Node, path string, dst any) error {
	return walk(n, path, reflect.TypeOf(dst).Elem())
}

func walk(n *yaml.Node, path string, t reflect.Type) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return fmt.Errorf("%w: %s: %s", ErrInvalid, where(path), strings.TrimPrefix(oneLine(err), "yaml: "))
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return walk(n, path, t.Elem())
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: %s: want a mapping of keys, got %s (line %d)", ErrInvalid, where(path), describe(n), n.Line)
		}
		fields := map[string]reflect.Type{}
		var known []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f.Type
			known = append(known, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("%w: %s: unknown key (line %d; known keys: %s)", ErrInvalid,
					join(path, k.Value), k.Line, strings.Join(known, ", "))
			}
			if err := walk(n.Content[i+1], join(path, k.Value), ft); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: %s: want a mapping, got %s (line %d)", ErrInvalid, where(path), describe(n), n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "" {
				return fmt.Errorf("%w: %s: empty or non-scalar key (line %d)", ErrInvalid, where(path), k.Line)
			}
			if err := walk(n.Content[i+1], join(path, k.Value), t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%w: %s: want a list, got %s (line %d)", ErrInvalid, where(path), describe(n), n.Line)
		}
		for i, e := range n.Content {
			if err := walk(e, fmt.Sprintf("%s[%d]", path, i), t.Elem()); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil {
		return fmt.Errorf("%w: %s: want %s, got %s (line %d)", ErrInvalid, where(path), kindName(t), describe(n), n.Line)
	}
	return nil
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

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return t.String()
}
