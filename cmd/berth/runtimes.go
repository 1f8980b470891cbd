package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
)

// openTimeout bounds launching a driver.
const openTimeout = 30 * time.Second

// runtimeSet is the core.RuntimeSet of the CLI: the configured and built-in
// runtimes, each driver launched on first use and closed with the set.
type runtimeSet struct {
	cfg        *config.File
	stateDir   string
	pluginDirs []string
	log        *slog.Logger
	def        string
	// hide names variables of berth's environment no driver receives.
	hide []string

	mu     sync.Mutex
	open   map[string]*wire.Driver
	warms  map[string]*warmup
	closed bool // after Close, nothing more is launched
}

// warmup is a driver launching in the background.
type warmup struct {
	done chan struct{}
	err  error
}

var _ core.RuntimeSet = (*runtimeSet)(nil)

func newRuntimeSet(cfg *config.File, stateDir string, pluginDirs []string, log *slog.Logger) *runtimeSet {
	return &runtimeSet{cfg: cfg, stateDir: stateDir, pluginDirs: pluginDirs, log: log,
		open: map[string]*wire.Driver{}, warms: map[string]*warmup{}}
}

// Runtime launches (once) and returns the driver of the runtime name. If
// the driver is warming up, it waits for it, or until ctx is done.
func (s *runtimeSet) Runtime(ctx context.Context, name string) (runtime.Runtime, error) {
	s.mu.Lock()
	w := s.warms[name]
	s.mu.Unlock()
	if w != nil {
		select {
		case <-w.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("runtime %s: %w", name, ctx.Err())
		}
		if w.err != nil {
			return nil, w.err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	return s.get(ctx, name)
}

// warm launches the driver of name in the background (once); Runtime(name)
// waits for it.
func (s *runtimeSet) warm(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.warms[name] != nil || s.closed {
		return
	}
	w := &warmup{done: make(chan struct{})}
	s.warms[name] = w
	go func() {
		defer close(w.done)
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		_, w.err = s.get(ctx, name)
	}()
}

// ping launches the driver of name and pings its engine; a driver that
// does not answer is stopped again.
func (s *runtimeSet) ping(ctx context.Context, name string) error {
	d, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	if err := d.Ping(ctx); err != nil {
		s.drop(name)
		return fmt.Errorf("engine not answering: %w", err)
	}
	return nil
}

func (s *runtimeSet) get(ctx context.Context, name string) (*wire.Driver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.open[name]; ok {
		return d, nil
	}
	if s.closed {
		return nil, fmt.Errorf("runtime %s: %w", name, core.ErrClosed)
	}
	wc, err := s.wireConfig(name)
	if err != nil {
		return nil, err
	}
	d, err := wire.Open(ctx, wc)
	if err != nil {
		return nil, fmt.Errorf("runtime %s: %w", name, err)
	}
	s.open[name] = d
	return d, nil
}

// drop closes the driver of name if it was launched.
func (s *runtimeSet) drop(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.open[name]; ok {
		d.Close()
		delete(s.open, name)
	}
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

// Close waits for the drivers warming up and stops every driver launched.
func (s *runtimeSet) Close() {
	s.mu.Lock()
	s.closed = true
	warms := slices.Collect(maps.Values(s.warms))
	s.mu.Unlock()
	for _, w := range warms {
		<-w.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, d := range s.open {
		d.Close()
		delete(s.open, name)
	}
}

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
