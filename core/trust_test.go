package core

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	defer other.Close()
	rep := e.sweep(other, SweepOptions{})
	require.True(t, first.Commit.Committed, "the racing job did not commit: %+v", first.Commit)
	require.Empty(t, rep.RemovedImages, "the reconcile removed images")
	require.True(t, e.imageExists(first.Commit.Image), "the reconcile removed the generation just committed")
	res, out := e.run(nil, job("w", "echo two >> /work/lines; cat /work/lines"))
	requireSelected(t, res, true, ReasonHit, "next job")
	require.Equal(t, "one\ntwo\n", out, "next job's output (it starts from generation 1)")
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
	require.NoError(t, e.rt.Tag(snap, "keep:me"))
	// A container a user runs from the snapshot, and an image committed
	// from it: both inherit the io.berth.* labels.
	img, err := e.rt.InspectImage(ctx, snap)
	require.NoError(t, err)
	userCtr := e.mkNamedContainer("users-own", img.Labels)
	userImg, err := e.rt.Commit(ctx, userCtr.ID, runtime.CommitOptions{Ref: "user/built:1", Labels: img.Labels})
	require.NoError(t, err)
	e.clk.Advance(24 * time.Hour)
	e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	e.run(e.open(), job("other", "true")) // a new Core reconciles at first use
	e.run(nil, job("w", "true"))          // and a job of the work item
	for _, ref := range []string{"keep:me", "user/built:1", userImg.ID} {
		assert.True(t, e.imageExists(ref), "berth removed the user's image %s", ref)
	}
	_, err = e.rt.InspectContainer(ctx, userCtr.ID)
	assert.NoError(t, err, "berth removed the user's container")

	// The snapshot the user tagged is replaced, then invalidated: berth
	// drops its own references; the user's keeps the image.
	_, err = e.core.Invalidate(ctx, "", "w")
	require.NoError(t, err)
	e.sweep(nil, SweepOptions{})
	kept, err := e.rt.InspectImage(ctx, "keep:me")
	require.NoError(t, err, "keep:me after the snapshot went")
	require.Equal(t, res.Commit.ImageID, kept.ID, "image of keep:me after the snapshot went")
	berths := slices.ContainsFunc(kept.Refs, func(r string) bool { return strings.HasPrefix(r, "berth/") })
	assert.False(t, berths, "berth's references left on the user's image: %v", kept.Refs)
}

// TestOwnerProvesItIsAliveByItsLock: an owner whose PID means nothing here
// (another PID namespace) is alive while it holds its job's lock file.
func TestOwnerProvesItIsAliveByItsLock(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	lock, err := e.core.owners.hold("elsewhere")
	require.NoError(t, err)
	err = e.core.st.AddJob(ctx, store.Job{ID: "elsewhere", Runtime: "fake", Project: DefaultProject,
		PID: deadPID(t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	require.NoError(t, err)
	ctr := e.mkNamedContainer(containerName("elsewhere"), e.managed(map[string]string{LabelJob: "elsewhere"}))
	e.clk.Advance(24 * time.Hour)
	rep := e.sweep(e.open(), SweepOptions{OrphanGrace: time.Nanosecond})
	require.Empty(t, rep.RemovedContainers, "a sweep removed the container of an owner that holds its lock")
	jobs, err := e.core.st.Jobs(ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "jobs after the sweep: %+v", jobs)
	require.Equal(t, "elsewhere", jobs[0].ID, "job kept after the sweep (the live owner's)")
	lock.abandon() // the owner dies: its file stays, its lock goes
	rep = e.sweep(nil, SweepOptions{OrphanGrace: time.Nanosecond})
	require.Equal(t, []string{ctr.ID}, rep.RemovedContainers, "containers removed after the owner died")
	_, err = os.Stat(e.core.owners.path("elsewhere"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the dead owner's lock file is left")
}

// TestOverdueJobOfADeadOwnerIsStoppedAtOnce: once the owner is gone and the
// recorded deadline plus the stop grace has passed, a sweep stops and
// removes the container whatever the orphan grace.
func TestOverdueJobOfADeadOwnerIsStoppedAtOnce(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.OrphanGrace = time.Hour; c.StopGrace = time.Second })
	ctx := context.Background()
	err := e.core.st.AddJob(ctx, store.Job{ID: "timed", Runtime: "fake", Project: DefaultProject,
		PID: deadPID(t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	require.NoError(t, err)
	ctr, err := e.rt.Run(ctx, runtime.ContainerSpec{Name: containerName("timed"), Image: baseRef,
		Cmd: []string{"sh", "-c", "sleep 3600"}, Labels: e.managed(map[string]string{LabelJob: "timed"})})
	require.NoError(t, err)
	require.NoError(t, e.core.st.SetJobContainer(ctx, "timed", ctr.ID, e.clk.Now().Add(10*time.Second)))
	e.clk.Advance(10 * time.Second) // the deadline, but not the stop grace
	require.Empty(t, e.sweep(nil, SweepOptions{}).RemovedContainers, "removed before the deadline and stop grace passed")
	e.clk.Advance(time.Second + time.Millisecond)
	assert.Equal(t, []string{ctr.ID}, e.sweep(nil, SweepOptions{}).RemovedContainers, "overdue containers removed at once")
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
	require.NoError(t, err)
	// A job of another berth ran from the snapshot and died.
	err = e.core.st.AddJob(ctx, store.Job{ID: "dead", Runtime: "fake", Project: DefaultProject, WorkItem: "w",
		PID: deadPID(t), PIDStart: 1, Started: e.clk.Now(), OwnerLock: true})
	require.NoError(t, err)
	labels := img.Labels
	labels[LabelJob] = "dead"
	_, err = e.rt.Run(ctx, runtime.ContainerSpec{Name: containerName("dead"), Image: res.Commit.Image,
		Cmd: []string{"true"}, Labels: labels})
	require.NoError(t, err)
	// The snapshot is invalidated: its image is in use, left for the sweep.
	_, err = e.core.Invalidate(ctx, "", "w")
	require.NoError(t, err)
	require.True(t, e.imageExists(res.Commit.ImageID), "the image in use was removed")
	e.clk.Advance(time.Hour)
	rep := e.sweep(nil, SweepOptions{OrphanGrace: time.Minute})
	require.Len(t, rep.RemovedContainers, 1, "one sweep's container removals: %+v", rep)
	require.Contains(t, rep.RemovedImages, res.Commit.Image, "one sweep did not remove the image the orphan held")
	require.False(t, e.imageExists(res.Commit.ImageID), "the image the orphan held is left")
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
	require.NoError(t, os.WriteFile(db, []byte(strings.Repeat("not a database ", 512)), 0o600))
	_, err := Open(ctx, e.cfg)
	require.Error(t, err, "Open accepted a corrupt database")
	require.NoError(t, os.Remove(db))
	c := e.open()
	require.Equal(t, id, c.InstanceID(), "instance ID after the database was lost")
	again, out := e.run(c, job("w", "cat /work/f"))
	require.True(t, again.Hit, "after a new database: a miss (%s); want the snapshot adopted", again.Reason)
	require.Equal(t, res.Commit.Image, again.Image, "image after a new database (the adopted snapshot)")
	require.Equal(t, "v1\n", out, "output after a new database")
}

// TestStateDirWithAnyCharacters: '?', '#', '%', spaces and unicode in the
// state directory's path keep the database inside it.
func TestStateDirWithAnyCharacters(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "st?a#te %41 dir ü")
	e := newEnv(t, func(c *Config) { c.StateDir = dir })
	res, _ := e.run(nil, job("w", "true"))
	require.True(t, res.Commit.Committed, "not committed: %+v", res.Commit)
	_, err := os.Stat(filepath.Join(dir, stateDB))
	require.NoError(t, err, "database not in the state directory")
	entries, _ := os.ReadDir(parent)
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	require.Equal(t, []string{filepath.Base(dir)}, names, "files beside the state directory")
	// Its settings hold: WAL journal (a lost query string would drop it).
	_, err = os.Stat(filepath.Join(dir, stateDB+"-wal"))
	require.NoError(t, err, "no WAL beside the database (settings dropped?)")
	assert.Equal(t, e.core.InstanceID(), e.open().InstanceID(), "instance of a second Core on the directory")
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
		require.ErrorIs(t, err, ErrInvalidJob, "Run")
		require.NotContains(t, err.Error(), secret, "the error shows the value")
	}
	e.noContainers()
}
