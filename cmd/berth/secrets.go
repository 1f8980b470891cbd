package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
)

// secretEnv gathers a job's secret env, in this order, a later entry
// winning over an earlier one with the same key: the config's
// job.secret_env_files, its job.secret_env, then --secret-env-file and
// --secret-env. An entry of --secret-env is KEY=VALUE, or KEY alone for the
// value of KEY in berth's own environment (as job.secret_env's are). A
// variable not set is an error naming its key. No error holds a value.
func (a *app) secretEnv(f runFlags) ([]string, error) {
	var env []string
	for _, path := range a.cfg.Job.SecretEnvFiles {
		kvs, err := readDotenv(path)
		if err != nil {
			return nil, fmt.Errorf("job.secret_env_files: %w", err)
		}
		env = append(env, kvs...)
	}
	for _, k := range a.cfg.Job.SecretEnv {
		v, ok := os.LookupEnv(k)
		if !ok {
			return nil, fmt.Errorf("job.secret_env: %s is not set in berth's environment", k)
		}
		env = append(env, k+"="+v)
	}
	for _, path := range f.secretEnvFiles {
		kvs, err := readDotenv(path)
		if err != nil {
			return nil, fmt.Errorf("--secret-env-file: %w", err)
		}
		env = append(env, kvs...)
	}
	for i, e := range f.secretEnv {
		if !strings.Contains(e, "=") {
			if !config.IsVarName(e) {
				return nil, badKey("secret-env", i)
			}
			v, ok := os.LookupEnv(e)
			if !ok {
				return nil, fmt.Errorf("--secret-env %s: not set in berth's environment (give KEY=VALUE, or set %s)", e, e)
			}
			e += "=" + v
		}
		if _, err := splitKV("secret-env", i, e); err != nil {
			return nil, err
		}
		env = append(env, e)
	}
	return lastWins(env), nil
}

// lastWins drops every KEY=VALUE entry of env that a later one with the
// same key overrides, keeping the order of the others.
func lastWins(env []string) []string {
	last := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	var out []string
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if last[k] == i {
			out = append(out, kv)
		}
	}
	return out
}

// keys returns the keys of KEY=VALUE entries.
func keys(env []string) []string {
	ks := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}
