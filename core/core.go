package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// Defaults for zero Config and Policy fields.
const (
	DefaultStopGrace   = 10 * time.Second
	DefaultOrphanGrace = time.Minute
	DefaultLayerLimit  = 100
	// DefaultProject is the project of jobs that name none.
	DefaultProject = "default"
	// cleanupTimeout bounds the clean-up after a job (stop, remove), which
	// runs even when the job's context is cancelled.
	cleanupTimeout = 2 * time.Minute
)

// Core runs jobs and keeps their snapshots. It is safe for concurrent use.
// Several Cores (in one or several processes) may share a state directory.
type Core struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	st       *store.Store
	instance string
	owner    owner
	slots    *slots
	locks    *itemLocks
	owners   *owners
	counters *counters
	sub      *submitted
	// registryHTTP carries the core's own requests to Config.Registry (nil
	// without one).
	registryHTTP *http.Transport

	mu         sync.Mutex // guards closed, reconciled and infos
	closed     bool
	reconciled map[string]*sync.Mutex  // runtime name -> held during its first reconcile; nil once done
	infos      map[string]runtime.Info // runtime name -> its Info, asked once
	inflight   sync.WaitGroup
	stopGC     context.CancelFunc
	gcDone     chan struct{}
}

// owner names this process in the jobs table.
type owner struct {
	pid   int
	start uint64
}

// Open opens the state in cfg.StateDir (creating it if needed) and returns
// a Core ready to run jobs.
func Open(ctx context.Context, cfg Config) (*Core, error) {
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("core: Config.StateDir is required: %w", runtime.ErrInvalidArgument)
	}
	if cfg.Runtimes == nil {
		return nil, fmt.Errorf("core: Config.Runtimes is required: %w", runtime.ErrInvalidArgument)
	}
	if cfg.MaxConcurrent < 0 || cfg.ClusterMaxConcurrent < 0 || cfg.QueueTimeout < 0 || cfg.WorkItemTimeout < 0 || cfg.StopGrace < 0 ||
		cfg.OrphanGrace < 0 || cfg.GCInterval < 0 || cfg.Policy.TTL < 0 || cfg.Policy.MaxCount < 0 ||
		cfg.Policy.MaxBytes < 0 || cfg.Policy.LayerLimit < 0 {
		return nil, fmt.Errorf("core: negative limit or duration in Config: %w", runtime.ErrInvalidArgument)
	}
	if cfg.DefaultRuntime == "" {
		if names := cfg.Runtimes.Names(); len(names) > 0 {
			cfg.DefaultRuntime = names[0]
		}
	}
	c := &Core{
		cfg:        cfg,
		log:        cfg.Logger,
		now:        cfg.Now,
		counters:   newCounters(cfg.Metrics),
		reconciled: map[string]*sync.Mutex{},
		infos:      map[string]runtime.Info{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	// The start time names this process in its jobs' rows beside its PID;
	// where the system does not tell it (outside Linux) it is 0, and the
	// owner's lock alone tells whether the process lives.
	start, err := procStart(os.Getpid())
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return nil, fmt.Errorf("core: read own process start time: %w", err)
	}
	c.owner = owner{pid: os.Getpid(), start: start}
	if c.locks, err = newItemLocks(filepath.Join(cfg.StateDir, "locks")); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if c.owners, err = newOwners(filepath.Join(cfg.StateDir, "jobs")); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if c.slots, err = newSlots(filepath.Join(cfg.StateDir, "queue"), cfg.MaxConcurrent); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if c.sub, err = newSubmitted(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if c.st, err = store.Open(ctx, cfg.StateDir, store.WithURL(cfg.Store)); err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	if c.instance, err = c.st.InstanceID(ctx); err != nil {
		c.st.Close()
		return nil, fmt.Errorf("core: %w", err)
	}
	c.log = c.log.With("instance", c.instance)
	if cfg.Registry != "" {
		c.registryHTTP = registryTransport(cfg.RegistryOptions)
	}
	if cfg.GCInterval > 0 {
		c.startGC(cfg.GCInterval)
	}
	return c, nil
}

// InstanceID returns the ID of the state directory. It labels everything
// this Core makes; every Core on the same directory has the same ID.
func (c *Core) InstanceID() string { return c.instance }

// Counters returns the current value of every counter (see the Metric*
// names).
func (c *Core) Counters() map[string]float64 { return c.counters.snapshot() }

// Close waits for the jobs in flight (Run), leaves the submitted ones that
// still run to the next Recover (Detach), stops the timed sweeps and
// closes the state. Later calls return nil; Run after Close returns
// ErrClosed.
func (c *Core) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	if c.stopGC != nil {
		c.stopGC()
		<-c.gcDone
	}
	c.Detach()
	c.inflight.Wait()
	c.sub.claim.release()
	if c.registryHTTP != nil {
		c.registryHTTP.CloseIdleConnections()
	}
	return c.st.Close()
}

// enter registers a call in flight; it fails once the Core is closed.
func (c *Core) enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.inflight.Add(1)
	return nil
}

func (c *Core) startGC(every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	c.stopGC, c.gcDone = cancel, make(chan struct{})
	go func() {
		defer close(c.gcDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := c.sweep(ctx, SweepOptions{}, SweepOnTimer); err != nil && ctx.Err() == nil {
					c.log.Warn("timed sweep failed", "err", err)
				}
			}
		}
	}()
}

// lookup returns the runtime called name from the set (which may launch it).
func (c *Core) lookup(ctx context.Context, name string) (runtime.Runtime, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: no runtime named and no default", ErrUnknownRuntime)
	}
	rt, err := c.cfg.Runtimes.Runtime(ctx, name)
	if err != nil {
		if !errors.Is(err, ErrUnknownRuntime) {
			return nil, fmt.Errorf("runtime %q: %w", name, err)
		}
		return nil, err
	}
	return rt, nil
}

// reconcileOnce reconciles runtime name with the state the first time this
// Core uses it. A failure is not fatal: the job's own calls report an engine
// that is down, and the next use tries again.
func (c *Core) reconcileOnce(ctx context.Context, name string, rt runtime.Runtime) {
	c.mu.Lock()
	m, seen := c.reconciled[name]
	if !seen {
		m = &sync.Mutex{}
		c.reconciled[name] = m
	}
	c.mu.Unlock()
	if m == nil {
		return
	}
	m.Lock()
	defer m.Unlock()
	c.mu.Lock()
	done := c.reconciled[name] == nil
	c.mu.Unlock()
	if done {
		return
	}
	var rep SweepReport
	if err := c.reconcile(ctx, name, rt, SweepOptions{}, &rep); err != nil {
		level := slog.LevelWarn
		if errors.Is(err, runtime.ErrUnavailable) || ctx.Err() != nil {
			level = slog.LevelInfo // the job's own calls report it
		}
		c.log.Log(ctx, level, "reconcile failed", "runtime", name, "err", err)
		return
	}
	c.count(&rep)
	c.mu.Lock()
	c.reconciled[name] = nil
	c.mu.Unlock()
}

// info returns the Info of runtime name, asking it once per Core.
func (c *Core) info(ctx context.Context, name string, rt runtime.Runtime) (runtime.Info, error) {
	c.mu.Lock()
	info, ok := c.infos[name]
	c.mu.Unlock()
	if ok {
		return info, nil
	}
	info, err := rt.Info(ctx)
	if err != nil {
		return info, fmt.Errorf("runtime %q: %w", name, err)
	}
	c.mu.Lock()
	c.infos[name] = info
	c.mu.Unlock()
	return info, nil
}

// count adds a sweep's removals to the counters.
func (c *Core) count(rep *SweepReport) {
	if rep.DryRun {
		return
	}
	c.counters.add(MetricEvictions, float64(len(rep.Evicted)))
	for i := range rep.Evicted {
		c.emit(EventSnapshotEvicted, nil, &rep.Evicted[i])
	}
	c.counters.add(MetricOrphans, float64(len(rep.RemovedContainers)))
	c.counters.add(MetricBytesReclaimed, float64(rep.BytesReclaimed))
}
