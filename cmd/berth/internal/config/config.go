package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid is wrapped by every error about the content of a config file.
var ErrInvalid = errors.New("invalid config")

// File is the configuration file's content.
type File struct {
	// DefaultRuntime names the runtime jobs use when they name none.
	DefaultRuntime string `yaml:"default_runtime"`
	// PluginDir is where driver binaries are looked up first.
	PluginDir string `yaml:"plugin_dir"`
	// StateDir holds berth's state (BERTH_STATE_DIR and --state-dir win).
	StateDir string `yaml:"state_dir"`
	// Store names the database of the state: "" or "sqlite" for the
	// SQLite database in the state directory, a postgres:// URL for a
	// PostgreSQL database (BERTH_STORE wins).
	Store string `yaml:"store"`
	// Registry shares every work item's newest snapshot with the other
	// hosts of the store's PostgreSQL database through an OCI registry:
	// "host[:port]/repository" (BERTH_REGISTRY wins). Default: none.
	Registry string `yaml:"registry"`
	// RegistryUsername authenticates to the registry
	// (BERTH_REGISTRY_USERNAME wins); the password is read from
	// RegistryPasswordFile, or from BERTH_REGISTRY_PASSWORD, which wins.
	RegistryUsername string `yaml:"registry_username"`
	// RegistryPasswordFile holds the registry's password; Load makes a
	// relative path relative to the config file's directory.
	RegistryPasswordFile string `yaml:"registry_password_file"`
	// RegistryInsecure allows plain HTTP, and HTTPS without verifying the
	// certificate, to a registry that is not on loopback (one on loopback
	// needs nothing).
	RegistryInsecure bool `yaml:"registry_insecure"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// Host names the daemon (berth serve) the command talks to instead of
	// running jobs in process: unix:///path, a socket path, tcp://host:port
	// or an http(s):// URL (BERTH_HOST and --host win).
	Host string `yaml:"host"`
	// TokenFile holds the daemon's bearer token (needed on TCP); Load
	// makes a relative path relative to the config file's directory
	// (--token-file wins; without either, BERTH_TOKEN).
	TokenFile string `yaml:"token_file"`
	// Runtimes are the named runtimes, by name.
	Runtimes map[string]Runtime `yaml:"runtimes"`
	// Job holds the defaults of berth run.
	Job Job `yaml:"job"`
	// Concurrency caps concurrent jobs.
	Concurrency Concurrency `yaml:"concurrency"`
	// Snapshots is the global snapshot policy.
	Snapshots Snapshots `yaml:"snapshots"`
	// Projects override the snapshot policy per project ID.
	Projects map[string]Project `yaml:"projects"`
	// GC tunes garbage collection.
	GC GC `yaml:"gc"`
}

// Runtime is one named runtime: a driver and how to reach its engine.
type Runtime struct {
	// Driver is a driver name (looked up as berth-driver-NAME) or the path
	// of a driver binary (anything with a slash). Default: the runtime's
	// own name.
	Driver string `yaml:"driver"`
	// Address is the engine's address, passed to the driver as the
	// "address" option. Default: none; the driver finds its engine as the
	// engine's own clients do (DOCKER_HOST or the Docker CLI's context,
	// CONTAINER_HOST or Podman's socket, CONTAINERD_ADDRESS or
	// containerd's socket).
	Address string `yaml:"address"`
	// SHA256 is the expected hex SHA-256 of the driver binary.
	SHA256 string `yaml:"sha256"`
	// Options are passed to the driver, with ${state_dir} (StateDirVar)
	// replaced by berth's state directory in each value. A runtime whose
	// driver is a built-in one has that built-in's options (the fake's:
	// state_dir ${state_dir}/fake) unless it sets them.
	Options map[string]string `yaml:"options"`
	// Env names variables of berth's environment the driver process
	// receives besides those every driver receives (PATH, HOME, TMPDIR,
	// locale, proxies, the engines' own: see wire.DriverEnv).
	Env []string `yaml:"env"`
}

// Job holds the defaults of berth run.
type Job struct {
	Image   string   `yaml:"image"`
	Timeout Duration `yaml:"timeout"`
	Memory  Size     `yaml:"memory"`
	CPUs    float64  `yaml:"cpus"`
	// StopGrace is the grace between the stop signal and the kill when a
	// job times out or is cancelled.
	StopGrace Duration `yaml:"stop_grace"`
	// SecretEnv names variables of berth's environment every job gets as
	// secret env (as --secret-env KEY does).
	SecretEnv []string `yaml:"secret_env"`
	// SecretEnvFiles are dotenv files every job gets as secret env (as
	// --secret-env-file does); Load makes a relative path relative to the
	// config file's directory.
	SecretEnvFiles []string `yaml:"secret_env_files"`
}

// Concurrency caps concurrent jobs.
type Concurrency struct {
	Max         int      `yaml:"max"`
	WaitTimeout Duration `yaml:"wait_timeout"`
	// ClusterMax caps the jobs running at once on all the hosts of the
	// store's PostgreSQL database together (0: no cap).
	ClusterMax int `yaml:"cluster_max"`
}

// Snapshots is the snapshot policy.
type Snapshots struct {
	// Enabled defaults to true: snapshots are taken for jobs with a work
	// item.
	Enabled        *bool    `yaml:"enabled"`
	TTL            Duration `yaml:"ttl"`
	MaxCount       int      `yaml:"max_count"`
	MaxTotalSize   Size     `yaml:"max_total_size"`
	LayerLimit     int      `yaml:"layer_limit"`
	NeverCommitEnv []string `yaml:"never_commit_env"`
}

// Project overrides the snapshot policy for one project.
type Project struct {
	Enabled *bool     `yaml:"enabled"`
	TTL     *Duration `yaml:"ttl"`
}

// GC tunes garbage collection.
type GC struct {
	Interval    Duration `yaml:"interval"`
	OrphanGrace Duration `yaml:"orphan_grace"`
}

// Load reads and validates the file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if p := f.RegistryPasswordFile; p != "" && !filepath.IsAbs(p) {
		f.RegistryPasswordFile = filepath.Join(filepath.Dir(path), p)
	}
	for i, p := range f.Job.SecretEnvFiles {
		if !filepath.IsAbs(p) {
			f.Job.SecretEnvFiles[i] = filepath.Join(filepath.Dir(path), p)
		}
	}
	if f.TokenFile != "" && !filepath.IsAbs(f.TokenFile) {
		f.TokenFile = filepath.Join(filepath.Dir(path), f.TokenFile)
	}
	return f, nil
}

// Parse decodes and validates a config file's content. The decoder is
// strict (yaml's KnownFields): an unknown key or a value of the wrong type
// is an error, which names the entry's key path.
func Parse(data []byte) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, oneLine(err))
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, decodeError(&doc, err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

func oneLine(err error) string {
	return string(bytes.Join(bytes.Fields([]byte(err.Error())), []byte(" ")))
}
