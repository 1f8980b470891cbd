package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFull(t *testing.T) {
	f, err := Parse([]byte(`
default_runtime: local
plugin_dir: /opt/berth/plugins
state_dir: /var/lib/berth
log_level: info
runtimes:
  local:
    driver: docker
    address: unix:///run/other.sock
    sha256: "` + strings.Repeat("ab", 32) + `"
    options: {api: "1.41"}
    env: [DOCKER_API_VERSION]
  custom:
    driver: /opt/drivers/berth-driver-x
job:
  image: busybox:latest
  timeout: 10m
  memory: 512m
  cpus: 1.5
  stop_grace: 2s
  secret_env: [NPM_TOKEN, GH_TOKEN]
  secret_env_files: [/run/secrets/job.env]
concurrency:
  max: 4
  wait_timeout: 1m
snapshots:
  enabled: true
  ttl: 168h
  max_count: 50
  max_total_size: 10g
  layer_limit: 40
  never_commit_env: [API_TOKEN]
projects:
  scratch:
    enabled: false
    ttl: 1h
gc:
  interval: 1h
  orphan_grace: 30s
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.DefaultRuntime != "local" || f.Runtimes["local"].Options["api"] != "1.41" {
		t.Errorf("runtimes: %+v", f.Runtimes)
	}
	if time.Duration(f.Job.Timeout) != 10*time.Minute || f.Job.Memory != 512<<20 || f.Job.CPUs != 1.5 ||
		!slices.Equal(f.Job.SecretEnv, []string{"NPM_TOKEN", "GH_TOKEN"}) || !slices.Equal(f.Job.SecretEnvFiles, []string{"/run/secrets/job.env"}) {
		t.Errorf("job: %+v", f.Job)
	}
	if env := f.Runtimes["local"].Env; !slices.Equal(env, []string{"DOCKER_API_VERSION"}) {
		t.Errorf("runtimes.local.env: %v", env)
	}
	if f.Snapshots.MaxTotalSize != 10<<30 || f.Snapshots.LayerLimit != 40 || *f.Snapshots.Enabled != true {
		t.Errorf("snapshots: %+v", f.Snapshots)
	}
	p := f.Projects["scratch"]
	if p.Enabled == nil || *p.Enabled || p.TTL == nil || time.Duration(*p.TTL) != time.Hour {
		t.Errorf("projects: %+v", p)
	}
	if time.Duration(f.GC.OrphanGrace) != 30*time.Second {
		t.Errorf("gc: %+v", f.GC)
	}
	rt, ok := f.Runtime("local")
	if !ok || rt.Driver != "docker" || rt.Address != "unix:///run/other.sock" {
		t.Errorf("Runtime(local) = %+v, %v", rt, ok)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "{}"} {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
		}
	}
}

// Every invalid file is rejected with ErrInvalid and a message naming the
// key's path.
func TestParseInvalid(t *testing.T) {
	for _, c := range []struct {
		name, doc, key string
	}{
		{"unknown top-level key", "snapshot: {}", "snapshot"},
		{"unknown nested key", "snapshots:\n  tll: 1h", "snapshots.tll"},
		{"unknown runtime key", "runtimes:\n  d:\n    adress: x", "runtimes.d.adress"},
		{"unknown project key", "projects:\n  p:\n    max_count: 3", "projects.p.max_count"},
		{"bad duration", "snapshots:\n  ttl: forever", "snapshots.ttl"},
		{"duration without unit", "gc:\n  orphan_grace: 30", "gc.orphan_grace"},
		{"bad project duration", "projects:\n  p:\n    ttl: 1x", "projects.p.ttl"},
		{"bad size", "job:\n  memory: 12q", "job.memory"},
		{"negative size", "snapshots:\n  max_total_size: -1g", "snapshots.max_total_size"},
		{"int as string", "concurrency:\n  max: many", "concurrency.max"},
		{"bool as string", "snapshots:\n  enabled: perhaps", "snapshots.enabled"},
		{"mapping for scalar", "job:\n  image: {a: b}", "job.image"},
		{"scalar for mapping", "job: fast", "job"},
		{"list for map", "runtimes: [a]", "runtimes"},
		{"mapping on the line of an outer one", "default_runtime:\n  a: {b: c}", "default_runtime"},
		{"list key", "runtimes:\n  ? [a]\n  : {}", "runtimes"},
		{"second entry of a flow list", "job:\n  secret_env_files: [x, {a: b}]", "job.secret_env_files[1]"},
		{"unknown key in an anchored mapping", "job: &j {image: x, nope: 1}\n", "job.nope"},
		{"size as an exponent", "job:\n  memory: 1e9", "job.memory"},
		{"negative duration", "job:\n  timeout: -5s", "job.timeout"},
		{"negative count", "snapshots:\n  max_count: -1", "snapshots.max_count"},
		{"negative cpus", "job:\n  cpus: -2", "job.cpus"},
		{"bad sha256", "runtimes:\n  d:\n    sha256: abc", "runtimes.d.sha256"},
		{"bad runtime name", "runtimes:\n  Bad Name: {}", "runtimes.Bad Name"},
		{"unknown default runtime", "default_runtime: nope", "default_runtime"},
		{"bad log level", "log_level: loud", "log_level"},
		{"bad never-commit key", "snapshots:\n  never_commit_env: [\"A=B\"]", "snapshots.never_commit_env[0]"},
		{"bad runtime env name", "runtimes:\n  d:\n    env: [OK, \"A B\"]", "runtimes.d.env[1]"},
		{"runtime env not a list", "runtimes:\n  d:\n    env: PATH", "runtimes.d.env"},
		{"bad secret env name", "job:\n  secret_env: [\"\"]", "job.secret_env[0]"},
		{"secret env as KEY=VALUE", "job:\n  secret_env: [\"TOKEN=abc\"]", "job.secret_env[0]"},
		{"secret env not a list", "job:\n  secret_env: TOKEN", "job.secret_env"},
		{"empty secret env file", "job:\n  secret_env_files: [a.env, \"\"]", "job.secret_env_files[1]"},
		{"secret env file not a string", "job:\n  secret_env_files: [{a: b}]", "job.secret_env_files[0]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, want ErrInvalid", err)
			}
			if msg := err.Error(); !strings.Contains(msg, c.key+":") || strings.Contains(msg, "\n") {
				t.Errorf("error %q does not name %q on one line", msg, c.key)
			}
		})
	}
}

// An error about an entry that may be KEY=VALUE never echoes it: the value
// may be a secret.
func TestParseErrorHoldsNoValue(t *testing.T) {
	for _, doc := range []string{
		"job:\n  secret_env: [\"TOKEN=s3cr3t\"]",
		"snapshots:\n  never_commit_env: [\"TOKEN=s3cr3t\"]",
		"runtimes:\n  d:\n    env: [\"TOKEN=s3cr3t\"]",
	} {
		_, err := Parse([]byte(doc))
		if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Parse(%q) = %v; want ErrInvalid without the value", doc, err)
		}
	}
}

// Load makes relative secret_env_files relative to the config file.
func TestLoadSecretEnvFilesRelative(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(p, []byte("job:\n  secret_env_files: [job.env, sub/x.env, /abs/y.env]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "job.env"), filepath.Join(dir, "sub", "x.env"), "/abs/y.env"}
	if !slices.Equal(f.Job.SecretEnvFiles, want) {
		t.Errorf("secret_env_files = %v, want %v", f.Job.SecretEnvFiles, want)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse([]byte("job: [unclosed"))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse = %v, want ErrInvalid", err)
	}
}

func TestLoadNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte("gc: {interval: soon}"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), p) {
		t.Errorf("Load = %v, want ErrInvalid naming %s", err, p)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestBuiltinRuntimes(t *testing.T) {
	var f File
	for _, name := range Builtins {
		rt, ok := f.Runtime(name)
		if !ok || rt.Driver != name {
			t.Errorf("Runtime(%s) = %+v, %v", name, rt, ok)
		}
	}
	for _, name := range Probed {
		if rt, _ := f.Runtime(name); rt.Address != "" || len(rt.Options) != 0 {
			t.Errorf("Runtime(%s) = %+v, want no address nor options (the driver finds its engine)", name, rt)
		}
	}
	if rt, _ := f.Runtime("fake"); rt.ExpandOptions("/state")["state_dir"] != "/state/fake" {
		t.Errorf("Runtime(fake) options %v, want state_dir /state/fake", rt.ExpandOptions("/state"))
	}
	if _, ok := f.Runtime("nope"); ok {
		t.Error("Runtime(nope) found")
	}
}

// The documented example is a valid config.
func TestExample(t *testing.T) {
	f, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.DefaultRuntime != "docker" || len(f.Runtimes) != 4 || f.Projects["scratch"].Enabled == nil {
		t.Errorf("example: %+v", f)
	}
}
