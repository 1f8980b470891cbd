package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
)

// runtimeSet is the core.RuntimeSet of the CLI: the configured and built-in
// runtimes, each driver launched on first use (a wire.Set) and stopped
// with the set.
type runtimeSet struct {
	cfg        *config.File
	stateDir   string
	pluginDirs []string
	log        *slog.Logger
	def        string
	// hide names variables of berth's environment no driver receives.
	hide []string

	drivers *wire.Set
}

var _ core.RuntimeSet = (*runtimeSet)(nil)

func newRuntimeSet(cfg *config.File, stateDir string, pluginDirs []string, log *slog.Logger) *runtimeSet {
	s := &runtimeSet{cfg: cfg, stateDir: stateDir, pluginDirs: pluginDirs, log: log}
	s.drivers = wire.NewSet(s.wireConfig)
	return s
}

// Runtime launches (once) and returns the driver of the runtime name,
// waiting for a launch already under way; it gives up when ctx is done.
func (s *runtimeSet) Runtime(ctx context.Context, name string) (runtime.Runtime, error) {
	d, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// get is Runtime, with the driver's own type.
func (s *runtimeSet) get(ctx context.Context, name string) (*wire.Driver, error) {
	return s.drivers.Driver(ctx, name)
}

// warm launches the driver of name in the background (once); Runtime(name)
// waits for it.
func (s *runtimeSet) warm(name string) { s.drivers.Warm(name) }

// ping launches the driver of name and pings its engine; a driver that
// does not answer is stopped again.
func (s *runtimeSet) ping(ctx context.Context, name string) error {
	d, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	if err := d.Ping(ctx); err != nil {
		s.drivers.Drop(name)
		return fmt.Errorf("engine not answering: %w", err)
	}
	return nil
}

// Names lists the default runtime, then the configured ones.
func (s *runtimeSet) Names() []string {
	var names []string
	if s.def != "" {
		names = append(names, s.def)
	}
	for _, n := range slices.Sorted(maps.Keys(s.cfg.Runtimes)) {
		if n != s.def {
			names = append(names, n)
		}
	}
	return names
}

// Close cancels the launches under way and stops every driver launched.
func (s *runtimeSet) Close() { _ = s.drivers.Close() }

// known lists every runtime name the set can open.
func (s *runtimeSet) known() []string {
	names := slices.Sorted(maps.Keys(s.cfg.Runtimes))
	for _, b := range config.Builtins {
		if !slices.Contains(names, b) {
			names = append(names, b)
		}
	}
	return names
}

// check returns an error wrapping core.ErrUnknownRuntime if name is no
// runtime of the set.
func (s *runtimeSet) check(name string) error {
	if _, ok := s.cfg.Runtime(name); !ok {
		return fmt.Errorf("%w %q (known: %s)", core.ErrUnknownRuntime, name, strings.Join(s.known(), ", "))
	}
	return nil
}

// wireConfig says how to launch the driver of runtime name.
func (s *runtimeSet) wireConfig(name string) (wire.Config, error) {
	if err := s.check(name); err != nil {
		return wire.Config{}, err
	}
	rt, _ := s.cfg.Runtime(name)
	return s.driverConfig(rt.Driver, rt), nil
}

// driverConfig says how to launch driver (a name, looked up by wire.Find
// in the plugin directories, or a path) with the settings of rt.
func (s *runtimeSet) driverConfig(driver string, rt config.Runtime) wire.Config {
	wc := wire.Config{PluginDirs: s.pluginDirs, SHA256: rt.SHA256, Options: rt.ExpandOptions(s.stateDir),
		Env: rt.Env, Hide: s.hide, Logger: s.log}
	if strings.ContainsAny(driver, `/\`) {
		wc.Path = driver
	} else {
		wc.Name = driver
	}
	if rt.Address != "" {
		if _, ok := wc.Options["address"]; !ok {
			wc.Options["address"] = rt.Address
		}
	}
	return wc
}
