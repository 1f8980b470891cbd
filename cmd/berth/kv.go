package main

import (
	"fmt"
	"strings"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
)

// parseKV checks entries of the form KEY=VALUE given to flag and returns
// them. The key must be a variable name (config.IsVarName); the value may
// be empty.
func parseKV(flag string, entries []string) ([]string, error) {
	for i, e := range entries {
		if _, err := splitKV(flag, i, e); err != nil {
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
	for i, e := range entries {
		kv, err := splitKV(flag, i, e)
		if err != nil {
			return nil, err
		}
		m[kv[0]] = kv[1]
	}
	return m, nil
}

// splitKV splits entry, the i-th (from 0) given to flag, at its first '='.
// Its errors name the key, or the entry's position when the key is not a
// variable name, and never the value: the entry may hold a secret.
func splitKV(flag string, i int, entry string) ([2]string, error) {
	k, v, ok := strings.Cut(entry, "=")
	switch {
	case !config.IsVarName(k):
		return [2]string{}, badKey(flag, i)
	case !ok:
		return [2]string{}, fmt.Errorf("--%s %s: missing '=' (want KEY=VALUE)", flag, k)
	}
	return [2]string{k, v}, nil
}

// badKey is the error for the i-th (from 0) entry given to flag whose key
// is not a variable name. It names the entry by position only: its text
// may be a value.
func badKey(flag string, i int) error {
	return fmt.Errorf("--%s: entry %d: the key is empty or holds '=' or whitespace (want KEY=VALUE)", flag, i+1)
}
