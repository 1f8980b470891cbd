package core

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/stretchr/testify/require"
)

// clock is a manual clock shared by the core and the fake runtime.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stateDB is the state database's file in the state directory (the store's
// fileName): tests that crash or corrupt the state reach it directly.
const stateDB = "berth.db"

const baseRef = "berth-test/base:1"

// env is a Core on a fake runtime with a manual clock and a base image.
type env struct {
	t    *testing.T
	clk  *clock
	rt   *fake.Runtime
	cfg  Config
	core *Core
}

// newEnv makes an env; mod edits the Config before Open.
// commitsAll are the fake's capabilities but CapDiff: a runtime that
// cannot tell an unchanged container, so that every job that succeeds
// commits, as the tests of the commit rules expect. The tests of unchanged
// containers give the fake CapDiff (fake.AllCapabilities).
var commitsAll = slices.DeleteFunc(slices.Clone(fake.AllCapabilities), func(c runtime.Capability) bool { return c == runtime.CapDiff })

func newEnv(t *testing.T, mod func(*Config), opts ...fake.Option) *env {
	t.Helper()
	clk := newClock()
	rt := fake.New(append([]fake.Option{fake.WithClock(clk.Now), fake.WithCapabilities(commitsAll...)}, opts...)...)
	t.Cleanup(func() { rt.Close() })
	e := &env{t: t, clk: clk, rt: rt}
	e.loadBase(baseRef, nil)
	e.cfg = Config{
		StateDir:  t.TempDir(),
		Runtimes:  RuntimeList{{Name: "fake", Runtime: rt}},
		Policy:    Policy{Enabled: true},
		StopGrace: 20 * time.Millisecond,
		Now:       clk.Now,
	}
	if mod != nil {
		mod(&e.cfg)
	}
	e.core = e.open()
	return e
}

// open opens another Core on the env's state directory.
func (e *env) open() *Core {
	e.t.Helper()
	c, err := Open(context.Background(), e.cfg)
	require.NoError(e.t, err, "Open")
	e.t.Cleanup(func() { c.Close() })
	return c
}

// loadBase loads a small base image under ref; files vary its content.
func (e *env) loadBase(ref string, files map[string][]byte) runtime.Image {
	e.t.Helper()
	tarball, err := testimage.Tar(testimage.Options{Ref: ref, Busybox: []byte("not executed by the fake"), Files: files})
	require.NoError(e.t, err)
	imgs, err := e.rt.LoadImage(context.Background(), bytes.NewReader(tarball))
	require.NoError(e.t, err, "LoadImage")
	require.Len(e.t, imgs, 1, "images loaded")
	return imgs[0]
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// job is a job of work item item running script on the base image.
func job(item, script string) Job {
	return Job{Image: baseRef, Cmd: []string{"sh", "-c", script}, WorkItem: item}
}

// run runs j on c (the env's core if nil), failing the test on error, and
// returns the result and the job's standard output.
func (e *env) run(c *Core, j Job) (Result, string) {
	e.t.Helper()
	if c == nil {
		c = e.core
	}
	var out syncBuffer
	j.Stdout = &out
	res, err := c.Run(context.Background(), j)
	require.NoError(e.t, err, "Run(%q)", j.Cmd)
	return res, out.String()
}

// containers lists every container the fake has.
func (e *env) containers() []runtime.Container {
	e.t.Helper()
	ctrs, err := e.rt.ListContainers(context.Background(), nil)
	require.NoError(e.t, err)
	return ctrs
}

// noContainers fails the test if any container is left.
func (e *env) noContainers() {
	e.t.Helper()
	require.Empty(e.t, e.containers(), "containers left behind")
}

// imageExists reports whether ref names an image in the fake.
func (e *env) imageExists(ref string) bool {
	e.t.Helper()
	_, err := e.rt.InspectImage(context.Background(), ref)
	if !errors.Is(err, runtime.ErrNotFound) {
		require.NoError(e.t, err)
	}
	return err == nil
}

// entry returns the stored state of a work item of the default project.
func (e *env) entry(item string) store.Entry {
	e.t.Helper()
	en, err := e.core.st.Lookup(context.Background(), store.Key{Runtime: "fake", Project: DefaultProject, WorkItem: item})
	require.NoError(e.t, err)
	return en
}

// forgetInDB deletes rows behind the store's back, as a crash between a
// commit and its bookkeeping would leave things.
func (e *env) forgetInDB(query string, args ...any) {
	e.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.cfg.StateDir, stateDB))
	require.NoError(e.t, err)
	defer db.Close()
	_, err = db.Exec(query, args...)
	require.NoError(e.t, err)
}

// envOf parses the KEY=VALUE lines env printed.
func envOf(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// runCoreHelper is the other berth process of the cross-process tests.
// "run-job" opens a Core on BERTH_STATE with a fake runtime sharing
// BERTH_FAKE, starts a job on work item BERTH_ITEM that runs until
// stopped, says "ready" once its container runs, and waits (it is killed
// by the test, or finishes when its stdin closes).
func runCoreHelper(ctx context.Context, role string) int {
	if role == "serve-job" {
		return serveJobHelper(ctx)
	}
	if role != "run-job" {
		return 2
	}
	rt := fake.New(fake.WithStateDir(os.Getenv("BERTH_FAKE")))
	c, err := Open(ctx, Config{StateDir: os.Getenv("BERTH_STATE"), Runtimes: RuntimeList{{Name: "fake", Runtime: rt}},
		Policy: Policy{Enabled: true}, StopGrace: time.Millisecond})
	if err != nil {
		println(err.Error())
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, Job{Image: baseRef, Cmd: []string{"sh", "-c", "sleep 3600"}, WorkItem: os.Getenv("BERTH_ITEM")})
	}()
	for {
		ctrs, _ := rt.ListContainers(ctx, runtime.LabelFilter{LabelInstance: c.InstanceID()})
		if len(ctrs) > 0 && ctrs[0].State == runtime.StateRunning {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.Stdout.WriteString("ready\n")
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	cancel()
	<-done
	c.Close()
	rt.Close()
	return 0
}

// serveJobHelper is a berth serve in another process: it opens a Core on
// BERTH_STATE with a fake runtime sharing BERTH_FAKE, recovers, submits a
// job of work item BERTH_ITEM that prints "started" and runs until
// stopped, prints the job's ID once its start is recorded and its output
// written, and waits to be killed.
func serveJobHelper(ctx context.Context) int {
	rt := fake.New(fake.WithStateDir(os.Getenv("BERTH_FAKE")))
	c, err := Open(ctx, Config{StateDir: os.Getenv("BERTH_STATE"), Runtimes: RuntimeList{{Name: "fake", Runtime: rt}},
		Policy: Policy{Enabled: true}, StopGrace: time.Millisecond})
	if err != nil {
		println(err.Error())
		return 1
	}
	if _, err := c.Recover(ctx); err != nil {
		println(err.Error())
		return 1
	}
	rec, err := c.Submit(ctx, Job{Image: baseRef, Cmd: []string{"sh", "-c", "echo started; sleep 3600"},
		WorkItem: os.Getenv("BERTH_ITEM")}, SubmitOptions{})
	if err != nil {
		println(err.Error())
		return 1
	}
	for { // running, and its output written
		got, err := c.GetJob(ctx, rec.ID)
		var out bytes.Buffer
		if err == nil && got.State == JobRunning {
			c.JobLogs(ctx, rec.ID, LogsOptions{}, func(ch LogChunk) error { out.Write(ch.Data); return nil })
		}
		if out.String() == "started\n" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	os.Stdout.WriteString(rec.ID + "\n")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

const ms = time.Millisecond

// waitFor polls cond until it holds, for up to 30 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 2*time.Millisecond, "waiting for %s", what)
}

// requireSelected checks how a job's image was selected: a hit or not, and
// why.
func requireSelected(t testing.TB, res Result, hit bool, reason SnapshotReason, what string) {
	t.Helper()
	require.Equal(t, reason, res.Reason, "%s: snapshot reason", what)
	require.Equal(t, hit, res.Hit, "%s: snapshot hit", what)
}

// result drops the output of env.run: result(e.run(c, j)) is its Result.
func result(res Result, _ string) Result { return res }
