package core

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// listHook is a runtime whose first ListImages runs hook before listing.
type listHook struct {
	runtime.Runtime
	once sync.Once
	hook func()
}

func (h *listHook) ListImages(ctx context.Context, f runtime.LabelFilter) ([]runtime.Image, error) {
	h.once.Do(h.hook)
	return h.Runtime.ListImages(ctx, f)
}

// TestReconcileRacingACommitKeepsTheNewGeneration forces the interleaving
// of issue 17: a reconcile reads the stored image IDs, another Core
// commits and records generation 1 and lets go of the work item, then the
// reconcile lists the images and finds generation 1 "unknown". It must not
// remove it: it decides from the state under the lock, not from its read.
func TestReconcileRacingACommitKeepsTheNewGeneration(t *testing.T) {
	e := newEnv(t, nil)
	var first Result
	hooked := &listHook{Runtime: e.rt, hook: func() {
		first, _ = e.run(nil, job("w", "echo one >> /work/lines"))
	}}
	cfg := e.cfg
	cfg.Runtimes = RuntimeList{{Name: "fake", Runtime: hooked}}
	other, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rep := e.sweep(other, SweepOptions{})
	if !first.Commit.Committed {
		t.Fatalf("the racing job did not commit: %+v", first.Commit)
	}
	if len(rep.RemovedImages) != 0 || !e.imageExists(first.Commit.Image) {
		t.Fatalf("the reconcile removed the generation just committed: %+v", rep)
	}
	res, out := e.run(nil, job("w", "echo two >> /work/lines; cat /work/lines"))
	if !res.Hit || res.Reason != ReasonHit || out != "one\ntwo\n" {
		t.Fatalf("next job: hit=%v reason=%q out=%q; want it to start from generation 1", res.Hit, res.Reason, out)
	}
}

// TestUserImagesAndContainersFromASnapshotAreKept: images and containers a
// user derives from a snapshot carry berth's labels; berth never removes
// them, and removing a snapshot a user also named takes only berth's
// reference.
func TestUserImagesAndContainersFromASnapshotAreKept(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, _ := e.run(nil, job("w", "echo v1 > /work/f"))
	snap := res.Commit.Image
	if err := e.rt.Tag(snap, "keep:me"); err != nil {
		t.Fatal(err)
	}
	// A container a user runs from the snapshot, and an image committed
	// from it: both inherit the io.berth.* labels.
	img, err := e.rt.InspectImage(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	userCtr := e.mkNamedContainer("users-own", img.Labels)
	userImg, err := e.rt.Commit(ctx, userCtr.ID, runtime.CommitOptions{Ref: "user/built:1", Labels: img.Labels})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(24 * time.Hour)
	e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	e.run(e.open(), job("other", "true")) // a new Core reconciles at first use
	e.run(nil, job("w", "true"))          // and a job of the work item
	for _, ref := range []string{"keep:me", "user/built:1", userImg.ID} {
		if !e.imageExists(ref) {
			t.Errorf("berth removed the user's image %s", ref)
		}
	}
	if _, err := e.rt.InspectContainer(ctx, userCtr.ID); err != nil {
		t.Errorf("berth removed the user's container: %v", err)
	}

	// The snapshot the user tagged is replaced, then invalidated: berth
	// drops its own references; the user's keeps the image.
	if _, err := e.core.Invalidate(ctx, "", "w"); err != nil {
		t.Fatal(err)
	}
	e.sweep(nil, SweepOptions{})
	kept, err := e.rt.InspectImage(ctx, "keep:me")
	if err != nil || kept.ID != res.Commit.ImageID {
		t.Fatalf("keep:me after the snapshot went: %+v, %v; want image %s", kept, err, res.Commit.ImageID)
	}
	if slices.ContainsFunc(kept.Refs, func(r string) bool { return strings.HasPrefix(r, "berth/") }) {
		t.Fatalf("berth's references left on the user's image: %v", kept.Refs)
	}
}

// TestOwnerProvesItIsAliveByItsLock: an owner whose PID means nothing here
// (another PID namespace) is alive while it holds its job's lock file.
func TestOwnerProvesItIsAliveByItsLock(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	release, err := e.core.owners.hold("elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	err = e.core.st.AddJob(ctx, store.Job{ID: "elsewhere", Runtime: "fake", Project: DefaultProject,
		PID: deadPID(t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	if err != nil {
		t.Fatal(err)
	}
	ctr := e.mkNamedContainer(containerName("elsewhere"), e.managed(map[string]string{LabelJob: "elsewhere"}))
	e.clk.Advance(24 * time.Hour)
	if rep := e.sweep(e.open(), SweepOptions{OrphanGrace: time.Nanosecond}); len(rep.RemovedContainers) != 0 {
		t.Fatalf("a sweep removed the container of an owner that holds its lock: %+v", rep)
	}
	if jobs, err := e.core.st.Jobs(ctx); err != nil || len(jobs) != 1 || jobs[0].ID != "elsewhere" {
		t.Fatalf("jobs after the sweep: %+v, %v; want the live owner's kept", jobs, err)
	}
	release() // the owner dies
	if rep := e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond}); !slices.Equal(rep.RemovedContainers, []string{ctr.ID}) {
		t.Fatalf("after the owner died: %+v; want its container removed", rep)
	}
	if _, err := os.Stat(e.core.owners.path("elsewhere")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dead owner's lock file is left: %v", err)
	}
}

// TestOverdueJobOfADeadOwnerIsStoppedAtOnce: once the owner is gone and the
// recorded deadline plus the stop grace has passed, a sweep stops and
// removes the container whatever the orphan grace.
func TestOverdueJobOfADeadOwnerIsStoppedAtOnce(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OrphanGrace = time.Hour; c.StopGrace = time.Second })
	ctx := context.Background()
	err := e.core.st.AddJob(ctx, store.Job{ID: "timed", Runtime: "fake", Project: DefaultProject,
		PID: deadPID(t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := e.rt.Run(ctx, runtime.ContainerSpec{Name: containerName("timed"), Image: baseRef,
		Cmd: []string{"sh", "-c", "sleep 3600"}, Labels: e.managed(map[string]string{LabelJob: "timed"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.core.st.SetJobContainer(ctx, "timed", ctr.ID, e.clk.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Second) // the deadline, but not the stop grace
	if rep := e.sweep(nil, SweepOptions{}); len(rep.RemovedContainers) != 0 {
		t.Fatalf("removed before the deadline and stop grace passed: %+v", rep)
	}
	e.clk.Advance(time.Second + time.Millisecond)
	if rep := e.sweep(nil, SweepOptions{}); !slices.Equal(rep.RemovedContainers, []string{ctr.ID}) {
		t.Fatalf("overdue: %+v; want the container removed at once", rep)
	}
	e.noContainers()
}

// TestOneSweepRemovesAnOrphanAndTheImageItHeld: the image of an
// invalidated snapshot that an orphan's container still used goes in the
// same sweep as the container.
func TestOneSweepRemovesAnOrphanAndTheImageItHeld(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, _ := e.run(nil, job("w", "true"))
	img, err := e.rt.InspectImage(ctx, res.Commit.Image)
	if err != nil {
		t.Fatal(err)
	}
	// A job of another berth ran from the snapshot and died.
	err = e.core.st.AddJob(ctx, store.Job{ID: "dead", Runtime: "fake", Project: DefaultProject, WorkItem: "w",
		PID: deadPID(t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	if err != nil {
		t.Fatal(err)
	}
	labels := img.Labels
	labels[LabelJob] = "dead"
	if _, err := e.rt.Run(ctx, runtime.ContainerSpec{Name: containerName("dead"), Image: res.Commit.Image,
		Cmd: []string{"true"}, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	// The snapshot is invalidated: its image is in use, left for the sweep.
	if _, err := e.core.Invalidate(ctx, "", "w"); err != nil {
		t.Fatal(err)
	}
	if !e.imageExists(res.Commit.ImageID) {
		t.Fatal("the image in use was removed")
	}
	e.clk.Advance(time.Hour)
	rep := e.sweep(nil, SweepOptions{OrphanGrace: time.Minute})
	if len(rep.RemovedContainers) != 1 || !slices.Contains(rep.RemovedImages, res.Commit.Image) || e.imageExists(res.Commit.ImageID) {
		t.Fatalf("one sweep: %+v; want the orphan and the image it held removed", rep)
	}
}

// TestInstanceIdentitySurvivesALostDatabase: a corrupt database is refused;
// once the user moves it away, the directory keeps its identity, so the
// snapshots made before are still berth's (adopted, collectable).
func TestInstanceIdentitySurvivesALostDatabase(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	res, _ := e.run(nil, job("w", "echo v1 > /work/f"))
	id := e.core.InstanceID()
	e.core.Close()
	db := filepath.Join(e.cfg.StateDir, stateDB)
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	if err := os.WriteFile(db, []byte(strings.Repeat("not a database ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, e.cfg); err == nil {
		t.Fatal("Open accepted a corrupt database")
	}
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	c := e.open()
	if c.InstanceID() != id {
		t.Fatalf("instance ID after the database was lost: %s, want %s", c.InstanceID(), id)
	}
	again, out := e.run(c, job("w", "cat /work/f"))
	if !again.Hit || again.Image != res.Commit.Image || out != "v1\n" {
		t.Fatalf("after a new database: hit=%v %q out=%q; want the snapshot adopted", again.Hit, again.Reason, out)
	}
}

// TestStateDirWithAnyCharacters: '?', '#', '%', spaces and unicode in the
// state directory's path keep the database inside it.
func TestStateDirWithAnyCharacters(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "st?a#te %41 dir ü")
	e := newEnv(t, func(c *Config) { c.StateDir = dir })
	res, _ := e.run(nil, job("w", "true"))
	if !res.Commit.Committed {
		t.Fatalf("commit: %+v", res.Commit)
	}
	if _, err := os.Stat(filepath.Join(dir, stateDB)); err != nil {
		t.Fatalf("database not in the state directory: %v", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(dir) {
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Fatalf("files beside the state directory: %v", names)
	}
	// Its settings hold: WAL journal (a lost query string would drop it).
	if _, err := os.Stat(filepath.Join(dir, stateDB+"-wal")); err != nil {
		t.Fatalf("no WAL beside the database (settings dropped?): %v", err)
	}
	if got := e.open().InstanceID(); got != e.core.InstanceID() {
		t.Fatalf("a second Core on the directory: instance %s, want %s", got, e.core.InstanceID())
	}
}

// TestBadEnvNeverEchoesAValue: a malformed entry is named by its position
// and key, never by its value.
func TestBadEnvNeverEchoesAValue(t *testing.T) {
	e := newEnv(t, nil)
	const secret = "s3cr3t-value-never-shown"
	for _, j := range []Job{
		{Image: baseRef, Cmd: []string{"true"}, SecretEnv: []string{secret}},
		{Image: baseRef, Cmd: []string{"true"}, SecretEnv: []string{"OK=1", "BAD KEY=" + secret}},
		{Image: baseRef, Cmd: []string{"true"}, Env: []string{secret}},
	} {
		_, err := e.core.Run(context.Background(), j)
		if !errors.Is(err, ErrInvalidJob) {
			t.Fatalf("Run: %v, want ErrInvalidJob", err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("the error shows the value: %v", err)
		}
	}
	e.noContainers()
}
