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
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.rt.Wait(ctx, c.ID); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// orphan records job jobID as a job whose owner died (its row, no owner
// lock file) and makes its container, named and labelled as berth makes
// them.
func (e *env) orphan(jobID string) runtime.Container {
	e.t.Helper()
	err := e.core.st.AddJob(context.Background(), store.Job{ID: jobID, Runtime: "fake", Project: DefaultProject,
		PID: deadPID(e.t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	if err != nil {
		e.t.Fatal(err)
	}
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
	if err != nil {
		e.t.Fatalf("Sweep: %v", err)
	}
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
	if !res.Hit || res.Image != first.Commit.Image || out != "v1\n" {
		t.Fatalf("after restart: hit=%v %q out=%q, want the adopted snapshot", res.Hit, res.Reason, out)
	}
	// And on demand, reported.
	e.forgetInDB("DELETE FROM snapshots")
	e.forgetInDB("DELETE FROM work_items")
	rep := e.sweep(c, SweepOptions{})
	if !slices.Equal(rep.AdoptedImages, []string{res.Commit.Image}) {
		t.Fatalf("adopted %v, want %s", rep.AdoptedImages, res.Commit.Image)
	}
}

func TestReconcileRemovesIncompleteAndForeignIsKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	commit := func(ref string, labels map[string]string) runtime.Image {
		c := e.mkContainer(nil)
		img, err := e.rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref, Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
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
	if !slices.Equal(dry.RemovedImages, []string{name + ":g1-unscrubbed"}) || !e.imageExists(incomplete.ID) {
		t.Fatalf("dry run: %+v (image must stay)", dry)
	}
	rep := e.sweep(nil, SweepOptions{})
	if !slices.Equal(rep.RemovedImages, []string{name + ":g1-unscrubbed"}) || e.imageExists(incomplete.ID) {
		t.Fatalf("sweep: %+v", rep)
	}
	if rep.BytesReclaimed != incomplete.Size {
		t.Fatalf("bytes reclaimed %d, want %d", rep.BytesReclaimed, incomplete.Size)
	}
	for _, img := range []runtime.Image{lookalike, foreign, mine} {
		if !e.imageExists(img.ID) {
			t.Fatalf("the sweep removed %v, an image berth did not name", img.Refs)
		}
	}
	if !e.imageExists(baseRef) {
		t.Fatal("the sweep removed the base image")
	}
}

func TestReconcileDropsEntriesWhoseImageIsGone(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.run(nil, job("w", "true"))
	e.rt.RemoveImage(context.Background(), res.Commit.ImageID)
	rep := e.sweep(nil, SweepOptions{DryRun: true})
	if len(rep.DroppedEntries) != 1 || !e.entry("w").Found {
		t.Fatalf("dry run: %+v", rep)
	}
	rep = e.sweep(nil, SweepOptions{})
	if len(rep.DroppedEntries) != 1 || rep.DroppedEntries[0].Image != res.Commit.Image {
		t.Fatalf("dropped %+v", rep.DroppedEntries)
	}
	if snaps, _ := e.core.Snapshots(context.Background(), ""); len(snaps) != 0 {
		t.Fatalf("entries left: %+v", snaps)
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t testing.TB) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestOrphanContainersAreReapedAfterTheGrace(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OrphanGrace = time.Minute })
	ctx := context.Background()
	self := e.core.owner
	add := func(id string, pid int, start uint64) {
		if err := e.core.st.AddJob(ctx, store.Job{ID: id, Runtime: "fake", Project: "p", PID: pid, PIDStart: start, Started: e.clk.Now()}); err != nil {
			t.Fatal(err)
		}
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

	if rep := e.sweep(nil, SweepOptions{}); len(rep.RemovedContainers) != 0 {
		t.Fatalf("removed %v within the grace period", rep.RemovedContainers)
	}
	e.clk.Advance(2 * time.Minute)
	dry := e.sweep(nil, SweepOptions{DryRun: true})
	if len(dry.RemovedContainers) != 3 || len(e.containers()) != 7 {
		t.Fatalf("dry run: %v", dry.RemovedContainers)
	}
	rep := e.sweep(nil, SweepOptions{})
	want := []string{dead.ID, reused.ID, lockDead.ID}
	slices.Sort(want)
	slices.Sort(rep.RemovedContainers)
	if !slices.Equal(rep.RemovedContainers, want) {
		t.Fatalf("removed %v, want %v", rep.RemovedContainers, want)
	}
	var left []string
	for _, c := range e.containers() {
		left = append(left, c.ID)
	}
	slices.Sort(left)
	if wantLeft := []string{live.ID, noRow.ID, userRun.ID, unmanaged.ID}; !slices.Equal(left, slices.Sorted(slices.Values(wantLeft))) {
		t.Fatalf("containers left %v, want the live job's and those berth did not make", left)
	}
	jobs, _ := e.core.st.Jobs(ctx)
	if len(jobs) != 1 || jobs[0].ID != "live" {
		t.Fatalf("job rows %+v, want only the live one", jobs)
	}
	if got := e.core.Counters()[MetricOrphans]; got != 3 {
		t.Fatalf("orphans counted %v, want 3", got)
	}
}

func TestLiveJobContainerIsNeverTouched(t *testing.T) {
	e := newEnv(t, nil)
	stop := e.startBlocking(nil, job("w", "sleep 3600"))
	defer stop()
	other := e.open() // another Core on the same state dir
	e.clk.Advance(24 * time.Hour)
	rep := e.sweep(other, SweepOptions{OrphanGrace: time.Nanosecond})
	if len(rep.RemovedContainers) != 0 || e.running() != 1 {
		t.Fatalf("a sweep touched a live job's container: %+v", rep)
	}
}

func TestReconcileAtFirstUse(t *testing.T) {
	e := newEnv(t, nil)
	orphan := e.orphan("gone")
	e.clk.Advance(time.Hour)
	c := e.open()
	e.run(c, job("", "true"))
	for _, ctr := range e.containers() {
		if ctr.ID == orphan.ID {
			t.Fatal("the first job of a new Core did not reconcile the runtime")
		}
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
	if len(rep.RemovedContainers) != 0 || len(e.containers()) != 1 {
		t.Fatalf("a sweep touched another live process's job: %+v", rep)
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	rep = e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	if len(rep.RemovedContainers) != 1 {
		t.Fatalf("the killed process's container was not reaped: %+v", rep)
	}
	e.noContainers()
	if jobs, _ := e.core.st.Jobs(context.Background()); len(jobs) != 0 {
		t.Fatalf("the killed process's job row was kept: %+v", jobs)
	}
}

func TestTwoRuntimeNamesOnOneEngine(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Runtimes = RuntimeList{{Name: "fake", Runtime: c.Runtimes.(RuntimeList)[0].Runtime}, {Name: "alias", Runtime: c.Runtimes.(RuntimeList)[0].Runtime}}
	})
	res, _ := e.run(nil, job("w", "true"))
	rep := e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	if len(rep.RemovedImages)+len(rep.AdoptedImages)+len(rep.DroppedEntries) != 0 || !e.imageExists(res.Commit.Image) {
		t.Fatalf("reconciling one runtime name touched the other's snapshot: %+v", rep)
	}
	j := job("w", "true")
	j.Runtime = "alias"
	if res2, _ := e.run(nil, j); res2.Hit || res2.Commit.Image == res.Commit.Image {
		t.Fatalf("the alias runtime reused or overwrote the other's snapshot: %+v", res2)
	}
}
