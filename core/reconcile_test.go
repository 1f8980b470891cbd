package core

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mkContainer makes an exited container with labels, as a job of a berth
// process would have left it.
func (e *env) mkContainer(labels map[string]string) runtime.Container {
	e.t.Helper()
	return e.mkNamedContainer("", labels)
}

// mkNamedContainer is mkContainer with the container's name.
func (e *env) mkNamedContainer(name string, labels map[string]string) runtime.Container {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.rt.Run(ctx, runtime.ContainerSpec{Name: name, Image: baseRef, Cmd: []string{"true"}, Labels: labels})
	require.NoError(e.t, err)
	_, err = e.rt.Wait(ctx, c.ID)
	require.NoError(e.t, err)
	return c
}

// orphan records job jobID as a job whose owner died (its row, no owner
// lock file) and makes its container, named and labelled as berth makes
// them.
func (e *env) orphan(jobID string) runtime.Container {
	e.t.Helper()
	err := e.core.st.AddJob(context.Background(), store.Job{ID: jobID, Runtime: "fake", Project: DefaultProject,
		PID: deadPID(e.t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	require.NoError(e.t, err)
	return e.mkNamedContainer(containerName(jobID), e.managed(map[string]string{LabelJob: jobID}))
}

func (e *env) managed(extra map[string]string) map[string]string {
	l := map[string]string{LabelManagedBy: ManagedBy, LabelInstance: e.core.InstanceID(), LabelRuntime: "fake"}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func (e *env) sweep(c *Core, opts SweepOptions) SweepReport {
	e.t.Helper()
	if c == nil {
		c = e.core
	}
	rep, err := c.Sweep(context.Background(), opts)
	require.NoError(e.t, err, "Sweep")
	return rep
}

func TestReconcileAdoptsImagesTheStoreLost(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo v1 > /work/f"))
	// A crash between the commit and its bookkeeping.
	e.forgetInDB("DELETE FROM snapshots")
	e.forgetInDB("DELETE FROM work_items")
	e.core.Close()
	c := e.open()
	res, out := e.run(c, job("w", "cat /work/f"))
	require.True(t, res.Hit, "after restart: a miss (%s), want the adopted snapshot", res.Reason)
	require.Equal(t, first.Commit.Image, res.Image, "image after restart (the adopted snapshot)")
	require.Equal(t, "v1\n", out, "output after restart")
	// And on demand, reported.
	e.forgetInDB("DELETE FROM snapshots")
	e.forgetInDB("DELETE FROM work_items")
	rep := e.sweep(c, SweepOptions{})
	require.Equal(t, []string{res.Commit.Image}, rep.AdoptedImages, "images adopted")
}

func TestReconcileRemovesIncompleteAndForeignIsKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	commit := func(ref string, labels map[string]string) runtime.Image {
		c := e.mkContainer(nil)
		img, err := e.rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref, Labels: labels})
		require.NoError(t, err)
		e.rt.Remove(ctx, c.ID)
		return img
	}
	// berth's naming, but no generation to adopt: a leftover (a crashed
	// commit's temporary reference, say).
	name := imageName(e.core.InstanceID(), "fake", "p", "w")
	incomplete := commit(name+":g1-unscrubbed", e.managed(map[string]string{LabelProject: "p", LabelWorkItem: "w"}))
	// berth's labels without berth's naming: not berth's to remove.
	lookalike := commit("berth/broken:g1", e.managed(map[string]string{LabelProject: "p"}))
	foreign := commit("berth/foreign:g1", map[string]string{LabelManagedBy: ManagedBy, LabelInstance: "someone-else", LabelProject: "p"})
	mine := commit("mine:1", nil)

	dry := e.sweep(nil, SweepOptions{DryRun: true})
	require.Equal(t, []string{name + ":g1-unscrubbed"}, dry.RemovedImages, "dry run's removals")
	require.True(t, e.imageExists(incomplete.ID), "a dry run removed the image")
	rep := e.sweep(nil, SweepOptions{})
	require.Equal(t, []string{name + ":g1-unscrubbed"}, rep.RemovedImages, "the sweep's removals")
	require.False(t, e.imageExists(incomplete.ID), "incomplete image left after the sweep")
	require.Equal(t, incomplete.Size, rep.BytesReclaimed, "bytes reclaimed")
	for _, img := range []runtime.Image{lookalike, foreign, mine} {
		require.True(t, e.imageExists(img.ID), "the sweep removed %v, an image berth did not name", img.Refs)
	}
	assert.True(t, e.imageExists(baseRef), "the sweep removed the base image")
}

func TestReconcileDropsEntriesWhoseImageIsGone(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.run(nil, job("w", "true"))
	e.rt.RemoveImage(context.Background(), res.Commit.ImageID)
	rep := e.sweep(nil, SweepOptions{DryRun: true})
	require.Len(t, rep.DroppedEntries, 1, "dry run's dropped entries: %+v", rep)
	require.True(t, e.entry("w").Found, "a dry run dropped the entry")
	rep = e.sweep(nil, SweepOptions{})
	require.Len(t, rep.DroppedEntries, 1, "dropped entries: %+v", rep.DroppedEntries)
	require.Equal(t, res.Commit.Image, rep.DroppedEntries[0].Image, "dropped entry's image")
	snaps, _ := e.core.Snapshots(context.Background(), "")
	assert.Empty(t, snaps, "entries left")
}

// deadPID returns the PID of a process that has exited.
func deadPID(t testing.TB) int {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func TestOrphanContainersAreReapedAfterTheGrace(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OrphanGrace = time.Minute })
	ctx := context.Background()
	self := e.core.owner
	add := func(id string, pid int, start uint64) {
		require.NoError(t, e.core.st.AddJob(ctx, store.Job{ID: id, Runtime: "fake", Project: "p", PID: pid, PIDStart: start, Started: e.clk.Now()}))
	}
	// Rows of a berth that predates the owner lock files: PID and start
	// time judge them.
	add("dead-owner", deadPID(t), 1)
	add("reused-pid", self.pid, self.start+1) // our PID, another process's start time
	add("live", self.pid, self.start)
	mk := func(jobID string) runtime.Container {
		return e.mkNamedContainer(containerName(jobID), e.managed(map[string]string{LabelJob: jobID}))
	}
	dead := mk("dead-owner")
	reused := mk("reused-pid")
	live := mk("live")
	lockDead := e.orphan("lock-dead")
	// berth's labels but not berth's: no row, or not berth's name.
	noRow := mk("no-row")
	userRun := e.mkNamedContainer("my-container", e.managed(map[string]string{LabelJob: "live"}))
	unmanaged := e.mkContainer(map[string]string{"app": "x"})

	require.Empty(t, e.sweep(nil, SweepOptions{}).RemovedContainers, "containers removed within the grace period")
	e.clk.Advance(2 * time.Minute)
	dry := e.sweep(nil, SweepOptions{DryRun: true})
	require.Len(t, dry.RemovedContainers, 3, "dry run's removals: %v", dry.RemovedContainers)
	require.Len(t, e.containers(), 7, "containers after a dry run")
	rep := e.sweep(nil, SweepOptions{})
	want := []string{dead.ID, reused.ID, lockDead.ID}
	slices.Sort(want)
	slices.Sort(rep.RemovedContainers)
	require.Equal(t, want, rep.RemovedContainers, "containers removed")
	var left []string
	for _, c := range e.containers() {
		left = append(left, c.ID)
	}
	slices.Sort(left)
	wantLeft := slices.Sorted(slices.Values([]string{live.ID, noRow.ID, userRun.ID, unmanaged.ID}))
	require.Equal(t, wantLeft, left, "containers left (the live job's and those berth did not make)")
	jobs, _ := e.core.st.Jobs(ctx)
	require.Len(t, jobs, 1, "job rows: %+v", jobs)
	require.Equal(t, "live", jobs[0].ID, "job row left (the live one)")
	assert.Equal(t, float64(3), e.core.Counters()[MetricOrphans], "orphans counted")
}

func TestLiveJobContainerIsNeverTouched(t *testing.T) {
	e := newEnv(t, nil)
	stop := e.startBlocking(nil, job("w", "sleep 3600"))
	defer stop()
	other := e.open() // another Core on the same state dir
	e.clk.Advance(24 * time.Hour)
	rep := e.sweep(other, SweepOptions{OrphanGrace: time.Nanosecond})
	require.Empty(t, rep.RemovedContainers, "a sweep removed a live job's container")
	require.Equal(t, 1, e.running(), "running containers after the sweep")
}

func TestReconcileAtFirstUse(t *testing.T) {
	e := newEnv(t, nil)
	orphan := e.orphan("gone")
	e.clk.Advance(time.Hour)
	c := e.open()
	e.run(c, job("", "true"))
	for _, ctr := range e.containers() {
		require.NotEqual(t, orphan.ID, ctr.ID, "the first job of a new Core did not reconcile the runtime")
	}
}

// TestKilledProcessContainerIsReaped runs a job in another process, checks
// that a sweep here leaves its container alone while it lives, kills it,
// and checks that the next sweep reaps the container.
func TestKilledProcessContainerIsReaped(t *testing.T) {
	fakeDir, stateDir := t.TempDir(), t.TempDir()
	clk := &clock{t: time.Now()} // the other process's fake uses the real clock
	rt := fake.New(fake.WithStateDir(fakeDir), fake.WithClock(clk.Now))
	t.Cleanup(func() { rt.Close() })
	e := &env{t: t, clk: clk, rt: rt}
	e.loadBase(baseRef, nil)
	e.cfg = Config{StateDir: stateDir, Runtimes: RuntimeList{{Name: "fake", Runtime: rt}}, Now: clk.Now}
	e.core = e.open()

	cmd, _ := helperProcess(t, "run-job", "BERTH_FAKE="+fakeDir, "BERTH_STATE="+stateDir, "BERTH_ITEM=w")
	clk.Advance(time.Hour)
	rep := e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	require.Empty(t, rep.RemovedContainers, "a sweep removed another live process's job's container")
	require.Len(t, e.containers(), 1, "containers after the sweep")
	require.NoError(t, cmd.Process.Signal(os.Kill))
	cmd.Wait()
	rep = e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	require.Len(t, rep.RemovedContainers, 1, "the killed process's container was not reaped: %+v", rep)
	e.noContainers()
	jobs, _ := e.core.st.Jobs(context.Background())
	assert.Empty(t, jobs, "the killed process's job row was kept")
}

func TestTwoRuntimeNamesOnOneEngine(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Runtimes = RuntimeList{{Name: "fake", Runtime: c.Runtimes.(RuntimeList)[0].Runtime}, {Name: "alias", Runtime: c.Runtimes.(RuntimeList)[0].Runtime}}
	})
	res, _ := e.run(nil, job("w", "true"))
	rep := e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	require.Empty(t, rep.RemovedImages, "reconciling one runtime name removed the other's images")
	require.Empty(t, rep.AdoptedImages, "reconciling one runtime name adopted the other's images")
	require.Empty(t, rep.DroppedEntries, "reconciling one runtime name dropped the other's entries")
	require.True(t, e.imageExists(res.Commit.Image), "reconciling one runtime name removed the other's snapshot")
	j := job("w", "true")
	j.Runtime = "alias"
	res2, _ := e.run(nil, j)
	assert.False(t, res2.Hit, "the alias runtime reused the other's snapshot")
	assert.NotEqual(t, res.Commit.Image, res2.Commit.Image, "the alias runtime overwrote the other's snapshot")
}
