package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// unmarshalerType is the interface of the types that decode themselves.
var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// unknownKey is a key no part of the config file knows.
const unknownKey = "berth_fuzz_unknown_key"

// FuzzParse: Parse never panics; every error it returns wraps ErrInvalid; a
// file it accepts validates again, and refuses an unknown key added to any
// of its sections.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("example.yaml")
	if err != nil {
		require.NoError(f, err)
	}
	for _, seed := range []string{
		string(example),
		"",
		"---\n",
		"~\n",
		"job: {memory: 512m, timeout: 30s, cpus: 2}\n",
		"runtimes: {local: {driver: docker, options: {a: b}}}\ndefault_runtime: local\n",
		"projects: {p: {ttl: 1h, enabled: false}}\n",
		"snapshots: {never_commit_env: [A, B], max_total_size: 1.5g}\n",
		"jobs: {}\n",
		"job: {memroy: 1g}\n",
		"job: [1, 2]\n",
		"job: {memory: -1}\n",
		"a: &a [x]\nb: *a\n",
		"job: &j {image: x}\nconcurrency: *j\n",
		"runtimes: {Bad: {}}\n",
		"runtimes: {x: {sha256: zz}}\n",
		"log_level: loud\n",
		"{",
		"- 1\n- 2\n",
		"job:\n  timeout: 1h\n---\njob:\n  timeout: -1h\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid, "Parse(%q)", data)
			return
		}
		require.NotNil(t, file, "Parse(%q) returned neither a file nor an error", data)
		require.NoError(t, file.Validate(), "Parse(%q) accepted a file that does not validate", data)
		var root yaml.Node
		require.NoError(t, yaml.Unmarshal(data, &root), "Parse(%q) accepted a file yaml cannot read", data)
		if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
			return
		}
		// The keys are added to the document's tree, which yaml then
		// writes out: go on only where yaml writes the same file back.
		if out, err := yaml.Marshal(&root); err != nil {
			return
		} else if again, err := Parse(out); err != nil || !reflect.DeepEqual(again, file) {
			return
		}
		for _, m := range sections(root.Content[0], reflect.TypeFor[File](), map[*yaml.Node]bool{}) {
			content := m.Content
			m.Content = append(content[:len(content):len(content)],
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: unknownKey},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "x"})
			out, err := yaml.Marshal(&root)
			m.Content = content
			if err != nil {
				continue
			}
			_, err = Parse(out)
			require.ErrorIs(t, err, ErrInvalid, "Parse(%q) accepted an unknown key in:\n%s", data, out)
			require.ErrorContains(t, err, unknownKey, "Parse(%q): the error does not name the unknown key in:\n%s", data, out)
		}
	})
}

// sections returns the mapping nodes of n that decode into a struct of t
// (the file, its sections, each runtime and project), once each.
func sections(n *yaml.Node, t reflect.Type, seen map[*yaml.Node]bool) []*yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if seen[n] || n.Kind != yaml.MappingNode {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []*yaml.Node
	switch t.Kind() {
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(unmarshalerType) {
			return nil
		}
		seen[n] = true
		out = append(out, n)
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fields[name] = t.Field(i).Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok {
				out = append(out, sections(n.Content[i+1], ft, seen)...)
			}
		}
	case reflect.Map:
		seen[n] = true
		for i := 0; i+1 < len(n.Content); i += 2 {
			out = append(out, sections(n.Content[i+1], t.Elem(), seen)...)
		}
	}
	return out
}
