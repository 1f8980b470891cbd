package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/google/go-containerregistry/pkg/name"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

var runtimeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LogLevels are the accepted log levels.
var LogLevels = []string{"debug", "info", "warn", "error"}

// Validate checks the values of f and returns an error naming the key of
// the first wrong one.
func (f *File) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, key, fmt.Sprintf(format, args...))
	}
	names := make([]string, 0, len(f.Runtimes))
	for name := range f.Runtimes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		rt := f.Runtimes[name]
		key := "runtimes." + name
		if !runtimeName.MatchString(name) {
			return bad(key, "runtime names are lowercase letters, digits, '-' and '_'")
		}
		if rt.SHA256 != "" {
			if b, err := hex.DecodeString(rt.SHA256); err != nil || len(b) != 32 {
				return bad(key+".sha256", "want 64 hex digits, got %q", rt.SHA256)
			}
		}
		for k := range rt.Options {
			if k == "" {
				return bad(key+".options", "empty option name")
			}
		}
		if err := varNames(key+".env", rt.Env); err != nil {
			return err
		}
	}
	if f.DefaultRuntime != "" {
		if _, ok := f.Runtimes[f.DefaultRuntime]; !ok && !IsBuiltin(f.DefaultRuntime) {
			return bad("default_runtime", "unknown runtime %q (known: %s)", f.DefaultRuntime,
				strings.Join(append(names, Builtins...), ", "))
		}
	}
	if f.LogLevel != "" && !contains(LogLevels, f.LogLevel) {
		return bad("log_level", "want one of %s, got %q", strings.Join(LogLevels, ", "), f.LogLevel)
	}
	if err := CheckStore(f.Store); err != nil {
		return bad("store", "%v", err)
	}
	if err := CheckRegistry(f.Registry); err != nil {
		return bad("registry", "%v", err)
	}
	if f.Host != "" {
		if err := CheckHost(f.Host); err != nil {
			return bad("host", "%v", err)
		}
	}
	nonNeg := []struct {
		key string
		v   int64
	}{
		{"job.timeout", int64(f.Job.Timeout)},
		{"job.memory", int64(f.Job.Memory)},
		{"job.stop_grace", int64(f.Job.StopGrace)},
		{"concurrency.max", int64(f.Concurrency.Max)},
		{"concurrency.wait_timeout", int64(f.Concurrency.WaitTimeout)},
		{"concurrency.cluster_max", int64(f.Concurrency.ClusterMax)},
		{"snapshots.ttl", int64(f.Snapshots.TTL)},
		{"snapshots.max_count", int64(f.Snapshots.MaxCount)},
		{"snapshots.max_total_size", int64(f.Snapshots.MaxTotalSize)},
		{"snapshots.layer_limit", int64(f.Snapshots.LayerLimit)},
		{"gc.interval", int64(f.GC.Interval)},
		{"gc.orphan_grace", int64(f.GC.OrphanGrace)},
	}
	for _, c := range nonNeg {
		if c.v < 0 {
			return bad(c.key, "must not be negative")
		}
	}
	if f.Job.CPUs < 0 {
		return bad("job.cpus", "must not be negative")
	}
	if err := varNames("snapshots.never_commit_env", f.Snapshots.NeverCommitEnv); err != nil {
		return err
	}
	if err := varNames("job.secret_env", f.Job.SecretEnv); err != nil {
		return err
	}
	for i, p := range f.Job.SecretEnvFiles {
		if p == "" {
			return bad(fmt.Sprintf("job.secret_env_files[%d]", i), "empty path")
		}
	}
	for id, p := range f.Projects {
		if id == "" {
			return bad("projects", "empty project ID")
		}
		if p.TTL != nil && *p.TTL < 0 {
			return bad("projects."+id+".ttl", "must not be negative")
		}
	}
	return nil
}

// HostSchemes are the schemes a daemon's address may have; an address
// without "://" is a unix socket's path.
var HostSchemes = []string{"unix", "tcp", "http", "https"}

// CheckStore checks the form of the state's database: "", "sqlite" or a
// postgres:// (postgresql://) URL. Its messages never show the URL, which
// may hold a password.
func CheckStore(store string) error {
	switch {
	case store == "" || store == "sqlite":
		return nil
	case strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://"):
		if _, err := url.Parse(store); err != nil {
			return errors.New("not a valid postgres:// URL")
		}
		return nil
	}
	return errors.New("want sqlite or a postgres:// URL")
}

// CheckRegistry checks the form of the registry snapshots are shared
// through: "" (none), or "host[:port]/repository" without a tag or digest.
func CheckRegistry(registry string) error {
	if registry == "" {
		return nil
	}
	host, repo, ok := strings.Cut(registry, "/")
	switch {
	case !ok || host == "" || repo == "":
		return fmt.Errorf("want HOST[:PORT]/REPOSITORY, got %q", registry)
	case !strings.ContainsAny(host, ".:") && host != "localhost":
		return fmt.Errorf("%q: the registry's host must come first (HOST[:PORT]/REPOSITORY)", registry)
	case strings.Contains(repo, "@") || strings.Contains(repo, ":"):
		return fmt.Errorf("%q: a repository, without a tag or digest", registry)
	}
	if _, err := name.NewRepository(registry, name.StrictValidation); err != nil {
		return fmt.Errorf("%q: %v", registry, err)
	}
	return nil
}

// CheckHost checks the form of a daemon's address: unix:///path or a
// socket path, tcp://host:port, http:// or https:// and a host.
func CheckHost(host string) error {
	scheme, rest, ok := strings.Cut(host, "://")
	switch {
	case strings.TrimSpace(host) == "":
		return fmt.Errorf("empty address")
	case !ok:
		return nil // a socket path
	case !contains(HostSchemes, scheme):
		return fmt.Errorf("%q: want unix:///path, a socket path, tcp://host:port or an http(s):// URL", host)
	case scheme == "unix" && rest == "":
		return fmt.Errorf("%q: no socket path after unix://", host)
	case scheme != "unix" && (rest == "" || rest[0] == '/'):
		return fmt.Errorf("%q: no host after %s://", host, scheme)
	case scheme == "tcp" && !strings.Contains(rest, ":"):
		return fmt.Errorf("%q: want tcp://host:port", host)
	}
	return nil
}

// varNames checks that names, the list at key, are variable names. The
// error names the entry by its index, never by its text: a mistaken entry
// may be KEY=VALUE, with a secret value.
func varNames(key string, names []string) error {
	for i, k := range names {
		if !IsVarName(k) {
			return fmt.Errorf("%w: %s[%d]: want a variable name (no '=', no whitespace)", ErrInvalid, key, i)
		}
	}
	return nil
}

// IsVarName reports whether k may name an environment variable: not
// empty, and without '=', whitespace or NUL.
func IsVarName(k string) bool {
	return k != "" && !strings.ContainsAny(k, "= \t\r\n\v\f\x00")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
