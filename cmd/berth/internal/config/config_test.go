package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFull(t *testing.T) {
	f, err := Parse([]byte(`
default_runtime: local
plugin_dir: /opt/berth/plugins
state_dir: /var/lib/berth
log_level: info
host: tcp://127.0.0.1:7400
token_file: /etc/berth/token
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
	require.NoError(t, err)
	assert.Equal(t, "local", f.DefaultRuntime, "default_runtime")
	assert.Equal(t, "tcp://127.0.0.1:7400", f.Host, "host")
	assert.Equal(t, "/etc/berth/token", f.TokenFile, "token_file")
	assert.Equal(t, map[string]string{"api": "1.41"}, f.Runtimes["local"].Options, "runtimes.local.options")
	assert.Equal(t, Job{
		Image:          "busybox:latest",
		Timeout:        Duration(10 * time.Minute),
		Memory:         512 << 20,
		CPUs:           1.5,
		StopGrace:      Duration(2 * time.Second),
		SecretEnv:      []string{"NPM_TOKEN", "GH_TOKEN"},
		SecretEnvFiles: []string{"/run/secrets/job.env"},
	}, f.Job, "job")
	assert.Equal(t, []string{"DOCKER_API_VERSION"}, f.Runtimes["local"].Env, "runtimes.local.env")
	enabled := true
	assert.Equal(t, Snapshots{Enabled: &enabled, TTL: Duration(168 * time.Hour), MaxCount: 50, MaxTotalSize: 10 << 30,
		LayerLimit: 40, NeverCommitEnv: []string{"API_TOKEN"}}, f.Snapshots, "snapshots")
	disabled, hour := false, Duration(time.Hour)
	assert.Equal(t, Project{Enabled: &disabled, TTL: &hour}, f.Projects["scratch"], "projects.scratch")
	assert.Equal(t, GC{Interval: Duration(time.Hour), OrphanGrace: Duration(30 * time.Second)}, f.GC, "gc")
	rt, ok := f.Runtime("local")
	require.True(t, ok, "Runtime(local) found")
	assert.Equal(t, Runtime{Driver: "docker", Address: "unix:///run/other.sock", SHA256: strings.Repeat("ab", 32),
		Options: map[string]string{"api": "1.41"}, Env: []string{"DOCKER_API_VERSION"}}, rt, "Runtime(local)")
}

func TestParseEmpty(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "{}"} {
		_, err := Parse([]byte(doc))
		assert.NoError(t, err, "Parse(%q)", doc)
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
		{"host of an unknown scheme", "host: ssh://box", "host"},
		{"empty host", "host: \" \"", "host"},
		{"unix host without a path", "host: unix://", "host"},
		{"tcp host without a port", "host: tcp://127.0.0.1", "host"},
		{"https host without a host", "host: https:///x", "host"},
		{"host not a string", "host: [a]", "host"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			require.ErrorIs(t, err, ErrInvalid)
			assert.Regexp(t, `\A[^\n]*`+regexp.QuoteMeta(c.key+":")+`[^\n]*\z`, err.Error(), "the error names %q on one line", c.key)
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
		if assert.ErrorIs(t, err, ErrInvalid, "Parse(%q)", doc) {
			assert.NotContains(t, err.Error(), "s3cr3t", "Parse(%q): the error holds the value", doc)
		}
	}
}

// Load makes relative secret_env_files relative to the config file.
func TestLoadSecretEnvFilesRelative(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "berth.yaml")
	require.NoError(t, os.WriteFile(p, []byte("job:\n  secret_env_files: [job.env, sub/x.env, /abs/y.env]\n"), 0o644))
	f, err := Load(p)
	require.NoError(t, err)
	want := []string{filepath.Join(dir, "job.env"), filepath.Join(dir, "sub", "x.env"), "/abs/y.env"}
	assert.Equal(t, want, f.Job.SecretEnvFiles, "secret_env_files")
}

// Load makes a relative token_file relative to the config file.
func TestLoadTokenFileRelative(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "berth.yaml")
	require.NoError(t, os.WriteFile(p, []byte("host: tcp://127.0.0.1:7400\ntoken_file: sub/token\n"), 0o644))
	f, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "sub", "token"), f.TokenFile, "token_file")
}

// Every form of a daemon's address berth takes is a valid host.
func TestHostForms(t *testing.T) {
	for _, h := range []string{"unix:///run/berth.sock", "/run/berth.sock", "berth.sock", "tcp://127.0.0.1:7400",
		"tcp://[::1]:7400", "http://localhost:7400", "https://berth.example:7400/"} {
		assert.NoError(t, CheckHost(h), "CheckHost(%q)", h)
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse([]byte("job: [unclosed"))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestLoadNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "berth.yaml")
	require.NoError(t, os.WriteFile(p, []byte("gc: {interval: soon}"), 0o644))
	_, err := Load(p)
	if assert.ErrorIs(t, err, ErrInvalid, "Load") {
		assert.Contains(t, err.Error(), p, "Load's error names the file")
	}
	_, err = Load(filepath.Join(t.TempDir(), "none.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist, "Load(missing)")
}

func TestBuiltinRuntimes(t *testing.T) {
	var f File
	for _, name := range Builtins {
		rt, ok := f.Runtime(name)
		if assert.True(t, ok, "Runtime(%s) found", name) {
			assert.Equal(t, name, rt.Driver, "Runtime(%s).Driver", name)
		}
	}
	for _, name := range Probed {
		rt, _ := f.Runtime(name)
		assert.Equal(t, Runtime{Driver: name}, rt, "Runtime(%s): no address nor options (the driver finds its engine)", name)
	}
	rt, _ := f.Runtime("fake")
	assert.Equal(t, map[string]string{"state_dir": "/state/fake"}, rt.ExpandOptions("/state"), "Runtime(fake)'s options")
	_, ok := f.Runtime("nope")
	assert.False(t, ok, "Runtime(nope) found")
}

// The documented example is a valid config.
func TestExample(t *testing.T) {
	f, err := Load("example.yaml")
	require.NoError(t, err)
	assert.Equal(t, "docker", f.DefaultRuntime, "example's default_runtime")
	assert.Len(t, f.Runtimes, 4, "example's runtimes")
	assert.NotNil(t, f.Projects["scratch"].Enabled, "example's projects.scratch.enabled")
}

// store takes sqlite or a PostgreSQL URL; an error never shows the URL,
// which may hold a password.
func TestStore(t *testing.T) {
	for _, s := range []string{"", "sqlite", "postgres://berth:pw@db:5432/berth?sslmode=require", "postgresql:///berth"} {
		assert.NoError(t, CheckStore(s), "CheckStore(%q)", s)
	}
	f, err := Parse([]byte("store: postgres://berth@127.0.0.1/berth\n"))
	require.NoError(t, err)
	assert.Equal(t, "postgres://berth@127.0.0.1/berth", f.Store, "store")
	for _, s := range []string{"mysql://root:hunter2@db/berth", "postgres://root:hunter2@db:port/berth"} {
		_, err := Parse([]byte("store: " + s + "\n"))
		if assert.ErrorIs(t, err, ErrInvalid, "store: %s", s) {
			assert.Contains(t, err.Error(), "store", "the error names the key")
			assert.NotContains(t, err.Error(), "hunter2", "the error shows the password")
		}
	}
}

// registry takes HOST[:PORT]/REPOSITORY, with credentials and an insecure
// switch; anything else is one error naming the key.
func TestRegistry(t *testing.T) {
	f, err := Parse([]byte("registry: 127.0.0.1:5000/berth/snapshots\nregistry_username: u\nregistry_insecure: true\nconcurrency:\n  cluster_max: 3\n"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000/berth/snapshots", f.Registry)
	assert.Equal(t, "u", f.RegistryUsername)
	assert.True(t, f.RegistryInsecure)
	assert.Equal(t, 3, f.Concurrency.ClusterMax)
	for _, ok := range []string{"", "localhost/x", "registry.example.com/a/b", "[::1]:5000/x"} {
		assert.NoError(t, CheckRegistry(ok), "CheckRegistry(%q)", ok)
	}
	for _, bad := range []string{"berth", "berth/snapshots", "127.0.0.1:5000", "127.0.0.1:5000/", "127.0.0.1:5000/x:tag",
		"127.0.0.1:5000/x@sha256:00", "127.0.0.1:5000/UPPER"} {
		_, err := Parse([]byte("registry: " + bad + "\n"))
		if assert.ErrorIs(t, err, ErrInvalid, "registry: %s", bad) {
			assert.Contains(t, err.Error(), "registry", "the error names the key")
		}
	}
	_, err = Parse([]byte("concurrency:\n  cluster_max: -1\n"))
	assert.ErrorIs(t, err, ErrInvalid, "a negative cluster_max")
}
