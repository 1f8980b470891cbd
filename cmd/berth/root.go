package main

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/runtime"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/core"
)

// app is one invocation of berth: its streams, global settings and what
// it opened.
type app struct {
	stdout, stderr io.Writer

	// Global flags, as given.
	flagConfig, flagStateDir, flagLogLevel  string
	flagRuntime, flagPluginDir, flagMetrics string
	flagHost, flagTokenFile                 string

	// Resolved settings.
	cfg          *config.File
	stateDir     string
	store        string                  // the state's database: "" for SQLite in stateDir
	registry     string                  // the registry snapshots are shared through: "" for none
	registryOpts runtime.RegistryOptions // how to reach it
	pluginDirs   []string
	metricsFile  string
	log          *slog.Logger
	// host names the daemon the commands talk to ("" to run in process),
	// hostFrom where it was named; tokenFile holds its bearer token.
	host, hostFrom string
	tokenFile      string

	set    *runtimeSet
	core   *core.Core
	client *client.Client // the daemon's, when one is named
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Run jobs in containers and reuse what successful jobs leave behind",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.settle(cmd)
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if !cmd.HasParent() {
			return fmt.Errorf("%w (see berth --help)", err)
		}
		return fmt.Errorf("%s: %w (see %s --help)", strings.TrimPrefix(cmd.CommandPath(), "berth "), err, cmd.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.flagConfig, "config", "", "config file (env BERTH_CONFIG; default $XDG_CONFIG_HOME/berth/config.yaml if it exists)")
	pf.StringVar(&a.flagStateDir, "state-dir", "", "state directory (env BERTH_STATE_DIR; default $XDG_STATE_HOME/berth)")
	pf.StringVar(&a.flagLogLevel, "log-level", "", "log level: debug, info, warn, error (env BERTH_LOG_LEVEL; default warn)")
	pf.StringVar(&a.flagRuntime, "runtime", "", "runtime to use (env BERTH_RUNTIME; default: the config's, else the first engine that answers)")
	pf.StringVar(&a.flagPluginDir, "plugin-dir", "", "directory searched first for driver binaries (env BERTH_PLUGIN_DIR)")
	pf.StringVar(&a.flagMetrics, "metrics-file", "", "add the command's counters to this Prometheus textfile (env BERTH_METRICS_FILE)")
	pf.StringVar(&a.flagHost, "host", "", `talk to this berth serve daemon instead of running in process: unix:///path, a socket path, tcp://HOST:PORT or https://HOST:PORT (env BERTH_HOST; default: the config's host, else none; "" runs in process)`)
	pf.StringVar(&a.flagTokenFile, "token-file", "", "file holding the daemon's bearer token, needed on TCP (default: the config's token_file, else env BERTH_TOKEN)")

	root.AddCommand(a.runCommand(), a.snapshotsCommand(), a.gcCommand(), a.imagesCommand(),
		a.pluginsCommand(), a.versionCommand(), a.serveCommand())
	return root
}

// pick returns the flag's value if it was set, else the environment
// variable's, else fallback.
func pick(cmd *cobra.Command, flag, env, fallback string) string {
	v, _ := pickFrom(cmd, flag, env, fallback, "")
	return v
}

// pickFrom is pick that also says where the value came from: --flag, the
// environment variable env, or what ("" when nothing set it).
func pickFrom(cmd *cobra.Command, flag, env, fallback, what string) (value, from string) {
	if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
		return f.Value.String(), "--" + flag
	}
	if v := os.Getenv(env); env != "" && v != "" {
		return v, env
	}
	if fallback != "" {
		return fallback, what
	}
	return "", ""
}

// settle loads the config file and resolves the global settings.
func (a *app) settle(cmd *cobra.Command) error {
	path := pick(cmd, "config", "BERTH_CONFIG", "")
	a.cfg = &config.File{}
	if path != "" {
		cfg, err := config.Load(path)
		if err != nil {
			return err
		}
		a.cfg = cfg
	} else if p := defaultConfigPath(); p != "" {
		if _, err := os.Stat(p); err == nil {
			cfg, err := config.Load(p)
			if err != nil {
				return err
			}
			a.cfg = cfg
		}
	}

	level := pick(cmd, "log-level", "BERTH_LOG_LEVEL", a.cfg.LogLevel)
	var lv slog.Level
	switch level {
	case "", "warn":
		lv = slog.LevelWarn
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "error":
		lv = slog.LevelError
	default:
		return fmt.Errorf("--log-level: want one of %s, got %q", strings.Join(config.LogLevels, ", "), level)
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lv}))
	a.stateDir = pick(cmd, "state-dir", "BERTH_STATE_DIR", a.cfg.StateDir)
	if a.stateDir == "" {
		a.stateDir = defaultStateDir()
	}
	if a.stateDir == "" {
		return fmt.Errorf("no state directory: set --state-dir or BERTH_STATE_DIR (HOME is not set)")
	}
	if abs, err := filepath.Abs(a.stateDir); err == nil {
		a.stateDir = abs
	}
	a.store = pick(cmd, "", "BERTH_STORE", a.cfg.Store)
	if err := config.CheckStore(a.store); err != nil {
		return fmt.Errorf("BERTH_STORE: %v", err)
	}
	a.registry = pick(cmd, "", "BERTH_REGISTRY", a.cfg.Registry)
	if err := config.CheckRegistry(a.registry); err != nil {
		return fmt.Errorf("BERTH_REGISTRY: %v", err)
	}
	a.registryOpts.Username = pick(cmd, "", "BERTH_REGISTRY_USERNAME", a.cfg.RegistryUsername)
	a.registryOpts.Password = os.Getenv("BERTH_REGISTRY_PASSWORD")
	if a.registryOpts.Password == "" && a.cfg.RegistryPasswordFile != "" {
		b, err := os.ReadFile(a.cfg.RegistryPasswordFile)
		if err != nil {
			return fmt.Errorf("registry_password_file: %w", err)
		}
		a.registryOpts.Password = strings.TrimRight(string(b), "\r\n")
	}
	a.registryOpts.Insecure = a.cfg.RegistryInsecure
	a.pluginDirs = pluginDirs(pick(cmd, "plugin-dir", "BERTH_PLUGIN_DIR", a.cfg.PluginDir))
	a.metricsFile = pick(cmd, "metrics-file", "BERTH_METRICS_FILE", "")
	a.host, a.hostFrom = pickFrom(cmd, "host", "BERTH_HOST", a.cfg.Host, "config host")
	a.tokenFile = pick(cmd, "token-file", "", a.cfg.TokenFile)
	a.set = newRuntimeSet(a.cfg, a.stateDir, a.pluginDirs, a.log)
	return nil
}

// runtimeName is the runtime chosen by flag, environment or config ("" if
// none).
func (a *app) runtimeName(cmd *cobra.Command) string {
	return pick(cmd, "runtime", "BERTH_RUNTIME", a.cfg.DefaultRuntime)
}

// defaultConfigPath is $XDG_CONFIG_HOME/berth/config.yaml.
func defaultConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "berth", "config.yaml")
}

// defaultStateDir is $XDG_STATE_HOME/berth or ~/.local/state/berth.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "berth")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".local", "state", "berth")
}

// pluginDirs lists where driver binaries are looked up before PATH: the
// configured directory, or the berth executable's directory and then
// ~/.local/lib/berth/plugins.
func pluginDirs(configured string) []string {
	if configured != "" {
		return []string{configured}
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "berth", "plugins"))
	}
	return dirs
}

// openCore opens the core with the default runtime def ("" if none is
// needed).
func (a *app) openCore(ctx context.Context, def string) (*core.Core, error) {
	a.set.def = def
	c, err := core.Open(ctx, a.coreConfig(def))
	if err != nil {
		return nil, err
	}
	a.core = c
	return c, nil
}

// close releases what the invocation opened: the state and the drivers,
// side by side.
func (a *app) close() {
	var wg sync.WaitGroup
	if a.core != nil {
		wg.Go(func() { a.core.Close() })
	}
	if a.set != nil {
		wg.Go(a.set.Close)
	}
	if a.client != nil {
		a.client.Close()
	}
	wg.Wait()
}
