package main

import (
	"fmt"
	"strings"
)

// parseKV checks entries of the form KEY=VALUE given to flag and returns
// them. The key must be non-empty and hold no whitespace; the value may be
// empty.
func parseKV(flag string, entries []string) ([]string, error) {
	for _, e := range entries {
		if _, err := splitKV(flag, e); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// parseLabels turns KEY=VALUE entries given to flag into a map; a later
// entry wins over an earlier one with the same key.
func parseLabels(flag string, entries []string) (map[string]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		kv, err := splitKV(flag, e)
		if err != nil {
			return nil, err
		}
		m[kv[0]] = kv[1]
	}
	return m, nil
}

func splitKV(flag, entry string) ([2]string, error) {
	k, v, ok := strings.Cut(entry, "=")
	switch {
	case !ok:
		return [2]string{}, fmt.Errorf("--%s %q: missing '=' (want KEY=VALUE)", flag, entry)
	case k == "":
		return [2]string{}, fmt.Errorf("--%s %q: empty key (want KEY=VALUE)", flag, entry)
	case strings.ContainsAny(k, " \t\n"):
		return [2]string{}, fmt.Errorf("--%s %q: key contains whitespace", flag, entry)
	}
	return [2]string{k, v}, nil
}
