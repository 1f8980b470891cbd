package core

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testRegistry returns a repository of its own for t (see
// testenv.Repository).
func testRegistry(t *testing.T) string { return testenv.Repository(t, "berth-core/") }

// inRegistry reports whether the registry has the manifest ref (a
// reference by digest) names.
func inRegistry(t *testing.T, ref string) bool {
	t.Helper()
	repo, digest, ok := strings.Cut(ref, "@")
	require.True(t, ok, "not a reference by digest: %s", ref)
	_, found := testenv.Manifest(t, repo, digest)
	return found
}

// snapshotImages lists the snapshot images (berth's, any host's) a fake
// runtime has.
func (e *env) snapshotImages() []runtime.Image {
	e.t.Helper()
	imgs, err := e.rt.ListImages(context.Background(), runtime.LabelFilter{LabelManagedBy: ManagedBy})
	require.NoError(e.t, err)
	return imgs
}

// TestSharedThroughRegistry: two hosts (state directories with engines of
// their own) on one PostgreSQL database and one registry take turns on a
// work item: each starts from the other's newest snapshot, pulled by
// digest; the generations replaced leave the registry and the engines;
// invalidating the work item on one host voids it on both.
func TestSharedThroughRegistry(t *testing.T) {
	pg := postgresStore(t)
	reg := testRegistry(t)
	mod := func(c *Config) { c.Store, c.Registry = pg, reg }
	a, b := newEnv(t, mod), newEnv(t, mod)
	require.NotEqual(t, a.core.InstanceID(), b.core.InstanceID(), "two hosts, one ID")

	g1, _ := a.run(nil, job("w", "echo a1 > /work/a"))
	require.True(t, g1.Commit.Committed, "host A's first job not committed: %s", g1.Commit.Reason)
	require.Empty(t, g1.Commit.PushError)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, g1.Commit.Digest, "host A's commit pushed")
	ref1 := reg + "@" + g1.Commit.Digest
	assert.True(t, inRegistry(t, ref1), "generation 1 in the registry")

	g2, out := b.run(nil, job("w", "cat /work/a && echo b2 > /work/b"))
	require.True(t, g2.Hit, "host B: a miss (%s)", g2.Reason)
	assert.True(t, g2.Pulled, "host B did not pull")
	assert.Equal(t, ref1, g2.Image, "host B ran from")
	assert.Equal(t, "a1\n", out, "host B's job saw host A's work")
	require.True(t, g2.Commit.Committed, "host B's job not committed: %s", g2.Commit.Reason)
	assert.Equal(t, 2, g2.Commit.Generation, "host B's generation")
	require.NotEmpty(t, g2.Commit.Digest, "host B's commit pushed: %s", g2.Commit.PushError)
	assert.False(t, inRegistry(t, ref1), "generation 1 left in the registry")

	g3, out := a.run(nil, job("w", "cat /work/a /work/b"))
	require.True(t, g3.Hit && g3.Pulled, "host A: hit %v, pulled %v (%s)", g3.Hit, g3.Pulled, g3.Reason)
	assert.Equal(t, "a1\nb2\n", out, "host A's job saw both")
	require.True(t, g3.Commit.Committed)
	assert.Equal(t, 3, g3.Commit.Generation, "host A's generation")
	ref2, ref3 := reg+"@"+g2.Commit.Digest, reg+"@"+g3.Commit.Digest
	assert.False(t, inRegistry(t, ref2), "generation 2 left in the registry")
	assert.True(t, inRegistry(t, ref3), "generation 3 in the registry")
	// Each engine keeps its newest generation only: A's generation 1 and
	// the generation 2 it pulled are gone.
	assert.Len(t, a.snapshotImages(), 1, "host A's snapshot images")
	assert.Len(t, b.snapshotImages(), 1, "host B's snapshot images")

	// Host B's next job of the work item with nothing to commit runs from
	// generation 3, pulled; then B invalidates the work item for both.
	g3b, out := b.run(nil, job("w", "cat /work/b"))
	require.True(t, g3b.Hit && g3b.Pulled, "host B again: hit %v, pulled %v (%s)", g3b.Hit, g3b.Pulled, g3b.Reason)
	assert.Equal(t, "b2\n", out)
	_, err := b.core.Invalidate(context.Background(), "", "w")
	require.NoError(t, err, "Invalidate on host B")
	assert.False(t, inRegistry(t, ref3), "generation 3 left in the registry after invalidation")
	cold, _ := a.run(nil, job("w", "test ! -e /work/a"))
	assert.False(t, cold.Hit, "host A ran from its invalidated copy")
	assert.Equal(t, 0, cold.ExitCode, "host A's job found the old work")
	assert.Greater(t, cold.Commit.Generation, 3, "generation after invalidation")

	// Cleanup on both hosts leaves nothing: the work item's snapshot is
	// invalidated, and every engine's images and the registry go with it.
	_, err = a.core.Invalidate(context.Background(), "", "w")
	require.NoError(t, err)
	assert.False(t, inRegistry(t, reg+"@"+cold.Commit.Digest), "last generation left in the registry")
	for name, e := range map[string]*env{"A": a, "B": b} {
		_, err := e.core.Sweep(context.Background(), SweepOptions{})
		require.NoError(t, err)
		assert.Empty(t, e.snapshotImages(), "host %s's snapshot images after cleanup", name)
	}
}

// TestSharedPullFails: a shared snapshot that cannot be pulled runs the job
// on its base image (pull-failed), never on the host's older snapshot, and
// its commit is the newest generation.
func TestSharedPullFails(t *testing.T) {
	pg := postgresStore(t)
	reg := testRegistry(t)
	mod := func(c *Config) { c.Store, c.Registry = pg, reg }
	a, b := newEnv(t, mod), newEnv(t, mod)
	g1, _ := a.run(nil, job("w", "echo 1 > /work/f"))
	require.NotEmpty(t, g1.Commit.Digest, "push: %s", g1.Commit.PushError)
	g2, _ := b.run(nil, job("w", "echo 2 > /work/f"))
	require.NotEmpty(t, g2.Commit.Digest, "push: %s", g2.Commit.PushError)
	// Generation 2 vanishes from the registry behind berth's back.
	require.NoError(t, deleteManifest(context.Background(), reg+"@"+g2.Commit.Digest, runtime.RegistryOptions{}, http.DefaultTransport))

	res, out := a.run(nil, job("w", "cat /work/f 2>/dev/null || echo none; echo 3 > /work/f"))
	assert.False(t, res.Hit, "host A ran from a snapshot")
	assert.Equal(t, ReasonPullFailed, res.Reason)
	assert.Equal(t, "none\n", out, "host A's job ran from its older generation")
	require.True(t, res.Commit.Committed)
	assert.Equal(t, 3, res.Commit.Generation, "the commit after a failed pull")
	assert.Equal(t, float64(1), a.core.Counters()[MetricPullFailures], "pull failures counted")
}

// TestClusterWorkItemLock: a work item runs on one host at a time: another
// host waits for it (or gives up after its WorkItemTimeout), and the cap on
// the cluster's jobs holds across hosts.
func TestClusterWorkItemLock(t *testing.T) {
	pg := postgresStore(t)
	a := newEnv(t, func(c *Config) { c.Store = pg; c.ClusterMaxConcurrent = 1 })
	b := newEnv(t, func(c *Config) {
		c.Store, c.ClusterMaxConcurrent = pg, 1
		c.WorkItemTimeout, c.QueueTimeout = 200*time.Millisecond, 200*time.Millisecond
	})
	started := &signalWriter{c: make(chan struct{})}
	aDone := make(chan Result, 1)
	go func() {
		j := job("w", "echo started; sleep 1.5")
		j.Stdout = started
		res, _ := a.core.Run(context.Background(), j)
		aDone <- res
	}()
	<-started.c
	_, err := b.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, ErrWorkItemBusy, "host B ran the work item host A runs")
	_, err = b.core.Run(context.Background(), job("other", "true"))
	require.ErrorIs(t, err, ErrQueueTimeout, "host B ran a job past the cluster's cap of 1")

	cfg := b.cfg
	cfg.WorkItemTimeout, cfg.QueueTimeout = 0, 0
	waiter, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	defer waiter.Close()
	_, err = waiter.Run(context.Background(), job("w", "true"))
	require.NoError(t, err)
	select {
	case ra := <-aDone:
		assert.True(t, ra.Commit.Committed, "host A's job")
	default:
		t.Fatal("host B ran the work item before host A's job ended")
	}
}

// signalWriter closes c at its first write.
type signalWriter struct {
	c    chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.c) })
	return len(p), nil
}

// TestSharedBranchesNeverWin: a host whose commit could not be pushed
// keeps a snapshot of its own; once another host shares a newer one of the
// work item, the first host runs from the shared one, not from its own
// branch (whose commit would drop the other host's work). A push that
// fails once is tried again.
func TestSharedBranchesNeverWin(t *testing.T) {
	pg := postgresStore(t)
	reg := testRegistry(t)
	mod := func(c *Config) { c.Store, c.Registry = pg, reg }
	// Host A's first three pushes fail (one commit's tries), its fourth
	// once (tried again).
	a := newEnv(t, mod, fake.WithFaults(
		fake.Fault{Op: fake.OpPushImage, Nth: 1, Err: runtime.ErrUnavailable},
		fake.Fault{Op: fake.OpPushImage, Nth: 2, Err: runtime.ErrUnavailable},
		fake.Fault{Op: fake.OpPushImage, Nth: 3, Err: runtime.ErrUnavailable},
		fake.Fault{Op: fake.OpPushImage, Nth: 4, Err: runtime.ErrUnavailable}))
	b := newEnv(t, mod)
	const step = "echo $NAME >> /work/log; cat /work/log"
	named := func(name string) Job {
		j := job("w", step)
		j.Env = []string{"NAME=" + name}
		return j
	}
	a1, _ := a.run(nil, named("a1"))
	require.True(t, a1.Commit.Committed)
	require.NotEmpty(t, a1.Commit.PushError, "host A's first push did not fail")
	assert.Empty(t, a1.Commit.Digest)
	b1, out := b.run(nil, named("b1"))
	assert.False(t, b1.Hit, "host B ran from a snapshot never shared")
	assert.Equal(t, "b1\n", out)
	require.NotEmpty(t, b1.Commit.Digest, "host B's push: %s", b1.Commit.PushError)

	a2, out := a.run(nil, named("a2"))
	assert.True(t, a2.Hit && a2.Pulled, "host A: hit %v, pulled %v (%s)", a2.Hit, a2.Pulled, a2.Reason)
	assert.Equal(t, "b1\na2\n", out, "host A ran from its own branch, dropping host B's work")
	require.NotEmpty(t, a2.Commit.Digest, "host A's push, tried again: %s", a2.Commit.PushError)
	assert.Greater(t, a2.Commit.Generation, b1.Commit.Generation)

	// A host's commit not pushed, on top of the shared one, is kept: it
	// has the shared one's work.
	b2, out := b.run(nil, named("b2"))
	assert.Equal(t, "b1\na2\nb2\n", out)
	require.NotEmpty(t, b2.Commit.Digest)
}
