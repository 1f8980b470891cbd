package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

const (
	// baseImage is the base image every host loads (the same bytes, so the
	// same ID everywhere: a shared snapshot is usable on every host).
	baseImage = "berth-bench/cluster:1"
	// project is the project of the benchmark's jobs.
	project = "bench"
	// counterScript is each job's command: the work item's counter, kept in
	// its snapshot, incremented and printed.
	counterScript = `n=$(cat /work/n 2>/dev/null || echo 0); echo $((n+1)) > /work/n; echo $((n+1))`
	// itemScript writes the work item's name too (BENCH_ITEM), so that the
	// layers of two work items differ: see -unique-layers.
	itemScript = counterScript + `; echo "$BENCH_ITEM" > /work/item`
)

// itemName is the name of work item i.
func itemName(i int) string { return fmt.Sprintf("item-%04d", i) }

// record is what a worker writes for each job (Kind "job") and, last, for
// itself (Kind "host"). Durations are in nanoseconds.
type record struct {
	Kind string `json:"kind"`
	Proc int    `json:"proc"`
	Host string `json:"host"`

	// A job's.
	Seq        int            `json:"seq,omitempty"`
	Item       string         `json:"item,omitempty"`
	Value      int            `json:"value,omitempty"`  // the value the job printed (0: none)
	Output     string         `json:"output,omitempty"` // what it printed, when not one number
	ExitCode   int            `json:"exit_code,omitempty"`
	Err        string         `json:"err,omitempty"` // Run's error
	Hit        bool           `json:"hit,omitempty"`
	Pulled     bool           `json:"pulled,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Committed  bool           `json:"committed,omitempty"`
	NoCommit   string         `json:"no_commit,omitempty"`
	CommitErr  string         `json:"commit_error,omitempty"`
	Generation int            `json:"generation,omitempty"`
	Digest     string         `json:"digest,omitempty"`
	PushError  string         `json:"push_error,omitempty"`
	Began      int64          `json:"began,omitempty"` // Unix ns, as Run was called
	Ended      int64          `json:"ended,omitempty"` // Unix ns, as it returned
	Durations  core.Durations `json:"durations,omitzero"`
	Engine     int64          `json:"engine,omitempty"`   // in the runtime's calls (see engineTime)
	Pull       int64          `json:"pull,omitempty"`     // in PullDigest
	Push       int64          `json:"push,omitempty"`     // in PushImage
	Registry   int64          `json:"registry,omitempty"` // in the core's own registry requests

	// A host's.
	Jobs     int                `json:"jobs,omitempty"`
	Counters map[string]float64 `json:"counters,omitempty"`
	Open     int64              `json:"open,omitempty"` // core.Open's duration
}

// workerConfig is a worker's flags.
type workerConfig struct {
	store, registry, state, out, log string
	ready, start                     string
	proc, jobs, items, concurrency   int
	unique                           bool
	seed                             uint64
	logLevel                         slog.Level
	wait                             time.Duration
}

func workerMain(args []string) error {
	var w workerConfig
	fs := flag.NewFlagSet("clusterbench worker", flag.ContinueOnError)
	fs.StringVar(&w.store, "store", "", "the cluster's PostgreSQL URL (its search_path names the cluster's schema); required")
	fs.StringVar(&w.registry, "registry", "", "the registry repository snapshots are shared through (host:port/path); required")
	fs.StringVar(&w.state, "state", "", "this host's state directory; required")
	fs.StringVar(&w.out, "out", "", "where the JSON lines go (default stdout)")
	fs.StringVar(&w.log, "log", "", "berth's log (default <state>/berth.log)")
	fs.StringVar(&w.ready, "ready", "", "a file written once the core is open")
	fs.StringVar(&w.start, "go", "", "a file to wait for before the first job")
	fs.IntVar(&w.proc, "proc", 0, "this process's number (in the records, and the seed's stream)")
	fs.IntVar(&w.jobs, "jobs", 10, "jobs to run")
	fs.IntVar(&w.items, "items", 10, "work items to draw from (item-0000 ...)")
	fs.IntVar(&w.concurrency, "concurrency", 2, "jobs at a time")
	fs.Uint64Var(&w.seed, "seed", 1, "seed of the work items' draw")
	fs.BoolVar(&w.unique, "unique-layers", true, "make each work item's layers its own (the job writes the item's name too); "+
		"with false, every work item's generation g has the same layer, which hosts then push at once")
	fs.DurationVar(&w.wait, "wait", 15*time.Minute, "the longest wait for a work item's turn, and for -go")
	level := fs.String("log-level", "warn", "berth's log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if w.store == "" || w.registry == "" || w.state == "" {
		return errors.New("-store, -registry and -state are required")
	}
	if w.jobs < 0 || w.items <= 0 || w.concurrency <= 0 {
		return errors.New("-jobs must be >= 0, -items and -concurrency > 0")
	}
	if err := w.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := io.Writer(os.Stdout)
	if w.out != "" {
		f, err := os.Create(w.out)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	return runWorker(ctx, w, out)
}

// runWorker opens the host's core, waits for the start, runs the jobs and
// writes their records, then the host's.
func runWorker(ctx context.Context, w workerConfig, out io.Writer) error {
	if err := os.MkdirAll(w.state, 0o700); err != nil {
		return err
	}
	if w.log == "" {
		w.log = filepath.Join(w.state, "berth.log")
	}
	logf, err := os.OpenFile(w.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()

	rt, err := newFake(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	timeRegistryRequests()
	t0 := time.Now()
	c, err := core.Open(ctx, core.Config{
		StateDir:        w.state,
		Store:           w.store,
		Registry:        w.registry,
		Runtimes:        core.RuntimeList{{Name: "fake", Runtime: timedRuntime{rt}}},
		Policy:          core.Policy{Enabled: true},
		WorkItemTimeout: w.wait,
		Logger:          slog.New(slog.NewJSONHandler(logf, &slog.HandlerOptions{Level: w.logLevel})),
	})
	if err != nil {
		return fmt.Errorf("open the core: %w", err)
	}
	defer c.Close()
	opened := time.Since(t0)
	host := c.InstanceID()

	if w.ready != "" {
		if err := os.WriteFile(w.ready, []byte(host+"\n"), 0o644); err != nil {
			return err
		}
	}
	if w.start != "" {
		if err := waitFile(ctx, w.start, w.wait); err != nil {
			return err
		}
	}

	var mu sync.Mutex
	enc := json.NewEncoder(out)
	write := func(r record) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(r)
	}
	rng := rand.New(rand.NewPCG(w.seed, uint64(w.proc)))
	todo := make(chan record)
	go func() {
		defer close(todo)
		for seq := 1; seq <= w.jobs; seq++ {
			select {
			case todo <- record{Kind: "job", Proc: w.proc, Host: host, Seq: seq, Item: itemName(rng.IntN(w.items))}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, w.concurrency)
	for range w.concurrency {
		wg.Go(func() {
			for rec := range todo {
				runJob(ctx, c, &rec, w.unique)
				if err := write(rec); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("write a record: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return write(record{Kind: "host", Proc: w.proc, Host: host, Jobs: w.jobs, Counters: c.Counters(), Open: int64(opened)})
}

// newFake returns an in-memory fake runtime with the base image.
func newFake(ctx context.Context) (*fake.Runtime, error) {
	rt := fake.New()
	tarball, err := testimage.Tar(testimage.Options{Ref: baseImage, Busybox: []byte("not executed by the fake")})
	if err == nil {
		_, err = rt.LoadImage(ctx, bytes.NewReader(tarball))
	}
	if err != nil {
		rt.Close()
		return nil, fmt.Errorf("load the base image: %w", err)
	}
	return rt, nil
}

// runJob runs rec's job and fills in what happened.
func runJob(ctx context.Context, c *core.Core, rec *record, unique bool) {
	script := counterScript
	if unique {
		script = itemScript
	}
	var et engineTime
	var stdout, stderr lockedBuffer
	began := time.Now()
	res, err := c.Run(withEngineTime(ctx, &et), core.Job{
		Image:    baseImage,
		Cmd:      []string{"sh", "-c", script},
		Env:      []string{"BENCH_ITEM=" + rec.Item},
		Project:  project,
		WorkItem: rec.Item,
		Stdout:   &stdout,
		Stderr:   &stderr,
	})
	rec.Ended = time.Now().UnixNano()
	rec.Began = began.UnixNano()
	if err != nil {
		rec.Err = err.Error()
	}
	printed := strings.TrimSpace(stdout.String())
	if v, perr := strconv.Atoi(printed); perr == nil && v > 0 {
		rec.Value = v
	} else if printed != "" || stderr.String() != "" {
		rec.Output = printed
		if s := strings.TrimSpace(stderr.String()); s != "" {
			rec.Output += " (stderr: " + s + ")"
		}
	}
	rec.ExitCode = res.ExitCode
	rec.Hit, rec.Pulled, rec.Reason = res.Hit, res.Pulled, string(res.Reason)
	rec.Committed, rec.NoCommit, rec.CommitErr = res.Commit.Committed, string(res.Commit.Reason), res.Commit.Error
	rec.Generation, rec.Digest, rec.PushError = res.Commit.Generation, res.Commit.Digest, res.Commit.PushError
	rec.Durations = res.Durations
	rec.Engine, rec.Pull, rec.Push, rec.Registry = et.all.Load(), et.pull.Load(), et.push.Load(), et.registry.Load()
}

// waitFile waits until path exists, for up to max.
func waitFile(ctx context.Context, path string, max time.Duration) error {
	deadline := time.Now().Add(max)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, max)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
