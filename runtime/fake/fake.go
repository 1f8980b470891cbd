package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Name is the driver name the fake reports in Info.
const Name = "fake"

// Version is the fake's version, reported in Info.
const Version = "0.1.0"

// Runtime is the fake runtime, safe for concurrent use.
type Runtime struct {
	cfg *config

	fmu    sync.Mutex // of faults and calls
	faults []Fault
	calls  map[string]int

	mu    sync.Mutex
	st    *state                      // in memory; with a state dir, read at each access
	dir   string                      // the state dir, or ""
	lock  *os.File                    // of the state dir
	err   error                       // the state dir is unusable
	blobs map[string]*layer           // by ID: the layers in memory, a cache with a state dir
	flats map[string]map[string]*file // chain ID -> file system
	tasks map[string]*task            // containers running in this process
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a fake runtime, in memory unless WithStateDir; if the state
// dir is unusable, every method returns runtime.ErrUnavailable.
func New(opts ...Option) *Runtime {
	cfg := &config{clock: time.Now, caps: AllCapabilities, poll: 20 * time.Millisecond, registry: map[string][]byte{}}
	for _, o := range opts {
		o(cfg)
	}
	r := &Runtime{cfg: cfg, st: newState(), blobs: map[string]*layer{}, flats: map[string]map[string]*file{}, tasks: map[string]*task{}}
	r.faults, r.calls = slices.Clone(cfg.faults), map[string]int{}
	if r.dir = cfg.stateDir; r.dir != "" {
		r.err = r.openDir()
	}
	return r
}

// Close kills the containers this Runtime runs (137) and waits for them.
// The Runtime stays usable.
func (r *Runtime) Close() error {
	r.mu.Lock()
	tasks := slices.Collect(maps.Values(r.tasks))
	r.mu.Unlock()
	for _, t := range tasks {
		t.sh.signal(sigKILL)
	}
	for _, t := range tasks {
		<-t.done
	}
	return nil
}

func (r *Runtime) has(c runtime.Capability) bool {
	return slices.Contains(r.cfg.caps, c) && (c != runtime.CapSquash || slices.Contains(r.cfg.caps, runtime.CapCommit))
}

func (r *Runtime) need(c runtime.Capability) error {
	if !r.has(c) {
		return fmt.Errorf("fake: capability %q not declared: %w", c, runtime.ErrNotImplemented)
	}
	return nil
}

// Info describes the fake.
func (r *Runtime) Info(ctx context.Context) (runtime.Info, error) {
	return call(ctx, r, OpInfo, func() (runtime.Info, error) {
		caps := slices.DeleteFunc(slices.Clone(AllCapabilities), func(c runtime.Capability) bool { return !r.has(c) })
		return runtime.Info{Name: Name, Version: Version, EngineVersion: "fake-" + Version, ProtocolVersion: runtime.ProtocolVersion, Capabilities: caps}, nil
	})
}

// Ping returns nil, unless the state dir is unusable.
func (r *Runtime) Ping(ctx context.Context) error {
	return call0(ctx, r, OpPing, func() error { return r.view(func(*state) error { return nil }) })
}

func (r *Runtime) view(fn func(st *state) error) error { return r.access(false, fn) }

// update runs fn on the current state and saves what it changed. fn must
// check before it changes anything: an error leaves the state as it was.
func (r *Runtime) update(fn func(st *state) error) error { return r.access(true, fn) }

func (r *Runtime) access(write bool, fn func(st *state) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err != nil:
		return r.err
	case r.dir == "":
		return fn(r.st)
	}
	how := syscall.LOCK_SH
	if write {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(r.lock.Fd()), how); err != nil {
		return unavailable("lock state", err)
	}
	defer syscall.Flock(int(r.lock.Fd()), syscall.LOCK_UN)
	st, err := r.load()
	if err != nil {
		return unavailable("read state", err)
	}
	if err := fn(st); err != nil || !write {
		return err
	}
	if b, err := json.Marshal(st); err != nil {
		return err
	} else if err := writeAtomic(filepath.Join(r.dir, "state.json"), b); err != nil {
		return unavailable("save state", err)
	}
	return nil
}

// unavailable wraps err, an error of the state dir.
func unavailable(what string, err error) error {
	return fmt.Errorf("fake: %s: %v: %w", what, err, runtime.ErrUnavailable)
}

// newID returns a deterministic 64-hex-digit ID for the kind and number.
func newID(kind string, n uint64, extra ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "fake %s %d", kind, n)
	for _, e := range extra {
		h.Write([]byte("\x00" + e))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// errCtx wraps ctx's error for an abandoned call.
func errCtx(ctx context.Context, what string) error {
	return fmt.Errorf("fake: %s: %w", what, ctx.Err())
}
