package core

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

// fork forks work item from onto to, both of the default project, failing
// the test on error.
func (e *env) fork(from, to string) Snapshot {
	e.t.Helper()
	sn, err := e.core.Fork(context.Background(), WorkItem{WorkItem: from}, WorkItem{WorkItem: to})
	require.NoError(e.t, err, "Fork(%s, %s)", from, to)
	return sn
}

// image inspects ref in the fake, failing the test on error.
func (e *env) image(ref string) runtime.Image {
	e.t.Helper()
	img, err := e.rt.InspectImage(context.Background(), ref)
	require.NoError(e.t, err, "InspectImage(%s)", ref)
	return img
}

func TestForkStartsTheTargetWarmFromTheSource(t *testing.T) {
	ev := &events{}
	e := newEnv(t, func(c *Config) { c.OnEvent = ev.add })
	a, _ := e.run(nil, job("a", "echo from-a > /work/v"))
	require.True(t, a.Commit.Committed, "a's first job committed")
	srcBefore := e.image(a.Commit.Image)

	sn := e.fork("a", "b")
	name := imageName(e.core.InstanceID(), "fake", DefaultProject, "b")
	assert.Equal(t, imageRef(name, 1), sn.Image, "b's snapshot reference: b's name, generation 1")
	assert.Equal(t, Snapshot{Runtime: "fake", Project: DefaultProject, WorkItem: "b", Image: sn.Image, ImageID: sn.ImageID,
		BaseImage: baseRef, Size: sn.Size, Layers: a.Commit.Layers, Generation: 1, Created: e.clk.Now(), LastUsed: e.clk.Now()}, sn)
	assert.NotEqual(t, a.Commit.ImageID, sn.ImageID, "b's image is a's")
	assert.Equal(t, 1, ev.count(EventSnapshotCommitted), "snapshot.committed events (Run emits none, the fork one)")
	img := e.image(sn.Image)
	assert.Equal(t, []string{sn.Image}, img.Refs, "refs of b's image")
	assert.Equal(t, "b", img.Labels[LabelWorkItem], "work item label of b's image")
	assert.Equal(t, DefaultProject, img.Labels[LabelProject], "project label of b's image")
	assert.Equal(t, "1", img.Labels[LabelGeneration], "generation label of b's image")
	assert.Equal(t, baseRef, img.Labels[LabelBaseImage], "base image label of b's image")
	en := e.entry("b")
	require.True(t, en.Found, "b's entry")
	assert.Equal(t, sn.ImageID, en.Snapshot.ImageID, "b's stored image")

	res, out := e.run(nil, job("b", "cat /work/v; echo BERTH_SNAPSHOT=$BERTH_SNAPSHOT"))
	require.True(t, res.Hit, "b's first job after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, sn.Image, res.Image, "image b's job ran")
	assert.Equal(t, "from-a\nBERTH_SNAPSHOT=1\n", out, "what b's job sees")
	require.True(t, res.Commit.Committed, "b's job committed")
	assert.Equal(t, 2, res.Commit.Generation, "b's commit after the fork")

	// a is as it was: its snapshot, its image, its next job.
	srcAfter := e.image(a.Commit.Image)
	assert.Equal(t, srcBefore.ID, srcAfter.ID, "a's image after the fork and b's commit")
	assert.Equal(t, srcBefore.Labels, srcAfter.Labels, "a's labels after the fork and b's commit")
	assert.Equal(t, srcBefore.Refs, srcAfter.Refs, "a's refs after the fork and b's commit")
	assert.False(t, e.imageExists(sn.Image), "b's forked generation left after b's commit replaced it")
	res, out = e.run(nil, job("a", "cat /work/v; echo a-again >> /work/v"))
	require.True(t, res.Hit, "a's job after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, a.Commit.Image, res.Image, "image a's job ran")
	assert.Equal(t, "from-a\n", out, "what a's job sees")
	_, out = e.run(nil, job("b", "cat /work/v"))
	assert.Equal(t, "from-a\n", out, "b after a's later commit: a's later changes are not b's")
	e.noContainers()
}

func TestForkOutlivesTheSourceAndTheReconcile(t *testing.T) {
	e := newEnv(t, nil)
	a, _ := e.run(nil, job("a", "echo from-a > /work/v"))
	sn := e.fork("a", "b")

	_, err := e.core.Invalidate(context.Background(), DefaultProject, "a")
	require.NoError(t, err, "Invalidate(a)")
	assert.False(t, e.imageExists(a.Commit.Image), "a's image after its eviction")
	assert.True(t, e.imageExists(sn.Image), "b's image after a's eviction")

	rep := e.sweep(nil, SweepOptions{})
	assert.NotContains(t, rep.RemovedImages, sn.Image, "the sweep removed b's image")
	assert.Empty(t, rep.DroppedEntries, "the sweep dropped entries")
	en := e.entry("b")
	require.True(t, en.Found, "b's entry after the sweep")
	assert.Equal(t, sn.ImageID, en.Snapshot.ImageID, "b's stored image after the sweep")

	// Lost by the store (a crash, a lost database): adopted as b's again.
	e.forgetInDB("DELETE FROM snapshots WHERE work_item = ?", "b")
	e.forgetInDB("DELETE FROM work_items WHERE work_item = ?", "b")
	rep = e.sweep(nil, SweepOptions{})
	assert.Equal(t, []string{sn.Image}, rep.AdoptedImages, "images the sweep adopted")
	en = e.entry("b")
	require.True(t, en.Found, "b's entry after the adoption")
	assert.Equal(t, sn.ImageID, en.Snapshot.ImageID, "b's adopted image")
	assert.Equal(t, 1, en.Snapshot.Generation, "b's adopted generation")

	res, out := e.run(nil, job("b", "cat /work/v"))
	require.True(t, res.Hit, "b's job after a's eviction and the sweeps: a miss (%s)", res.Reason)
	assert.Equal(t, "from-a\n", out, "what b's job sees")
	e.noContainers()
}

func TestForkReplacesTheTargetsSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("a", "echo from-a > /work/v"))
	b1, _ := e.run(nil, job("b", "echo from-b > /work/v"))
	b2, _ := e.run(nil, job("b", "echo from-b2 > /work/v"))
	require.Equal(t, 2, b2.Commit.Generation, "b's second commit")
	_, err := e.core.Invalidate(context.Background(), DefaultProject, "b")
	require.NoError(t, err, "Invalidate(b)")
	b3, _ := e.run(nil, job("b", "echo from-b3 > /work/v"))
	require.Equal(t, 3, b3.Commit.Generation, "b's commit after its invalidation")

	sn := e.fork("a", "b")
	assert.Equal(t, 4, sn.Generation, "the fork's generation: after every one b had")
	assert.Equal(t, imageRef(imageName(e.core.InstanceID(), "fake", DefaultProject, "b"), 4), sn.Image, "the fork's reference")
	assert.False(t, e.imageExists(b3.Commit.Image), "b's replaced generation left behind")
	assert.False(t, e.imageExists(b1.Commit.Image), "b's first generation")
	res, out := e.run(nil, job("b", "cat /work/v"))
	require.True(t, res.Hit, "b's job after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, "from-a\n", out, "what b's job sees after the fork")
	assert.Equal(t, 5, res.Commit.Generation, "b's commit after the fork")
}

func TestForkNeverMovesATag(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("a", "echo from-a > /work/v"))
	name := imageName(e.core.InstanceID(), "fake", DefaultProject, "b")
	// Left by a crashed commit of b that the store never recorded.
	require.NoError(t, e.rt.Tag(baseRef, imageRef(name, 1)))
	sn := e.fork("a", "b")
	assert.Equal(t, 2, sn.Generation, "the fork's generation, past a tag left behind")
	assert.Equal(t, e.image(baseRef).ID, e.image(imageRef(name, 1)).ID, "the tag left behind moved")
}

func TestForkAcrossProjects(t *testing.T) {
	e := newEnv(t, nil)
	j := job("a", "echo from-a > /work/v")
	j.Project = "p"
	e.run(nil, j)
	sn, err := e.core.Fork(context.Background(), WorkItem{Project: "p", WorkItem: "a"}, WorkItem{Project: "q", WorkItem: "a"})
	require.NoError(t, err, "Fork(p/a, q/a)")
	assert.Equal(t, "q", sn.Project, "the fork's project")
	assert.Equal(t, imageRef(imageName(e.core.InstanceID(), "fake", "q", "a"), 1), sn.Image, "the fork's reference")
	assert.Equal(t, "q", e.image(sn.Image).Labels[LabelProject], "project label of the fork's image")
	j = job("a", "cat /work/v")
	j.Project = "q"
	res, out := e.run(nil, j)
	require.True(t, res.Hit, "q/a's job after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, "from-a\n", out, "what q/a's job sees")
}

func TestForkErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.run(nil, job("a", "echo from-a > /work/v"))
	for _, tc := range []struct {
		name     string
		from, to WorkItem
		want     error
	}{
		{"onto itself", WorkItem{WorkItem: "a"}, WorkItem{Project: DefaultProject, WorkItem: "a"}, ErrInvalidJob},
		{"no source", WorkItem{}, WorkItem{WorkItem: "b"}, ErrInvalidJob},
		{"no target", WorkItem{WorkItem: "a"}, WorkItem{}, ErrInvalidJob},
		{"source without snapshot", WorkItem{WorkItem: "none"}, WorkItem{WorkItem: "b"}, runtime.ErrNotFound},
		{"source of another project", WorkItem{Project: "p", WorkItem: "a"}, WorkItem{WorkItem: "b"}, runtime.ErrNotFound},
	} {
		_, err := e.core.Fork(ctx, tc.from, tc.to)
		assert.ErrorIs(t, err, tc.want, tc.name)
	}
	assert.False(t, e.entry("b").Found, "b's entry after failed forks")

	// The source's image gone: its entry goes, as a job would drop it.
	a := e.entry("a")
	require.NoError(t, e.rt.RemoveImage(ctx, a.Snapshot.Image))
	_, err := e.core.Fork(ctx, WorkItem{WorkItem: "a"}, WorkItem{WorkItem: "b"})
	assert.ErrorIs(t, err, runtime.ErrNotFound, "fork of a snapshot whose image is gone")
	assert.False(t, e.entry("a").Found, "a's entry once its image is gone")
}

func TestForkOnARuntimeThatCannotCopy(t *testing.T) {
	e := newEnv(t, nil, fake.WithCapabilities(runtime.CapLoad, runtime.CapCommit))
	e.run(nil, job("a", "echo from-a > /work/v"))
	_, err := e.core.Fork(context.Background(), WorkItem{WorkItem: "a"}, WorkItem{WorkItem: "b"})
	require.ErrorIs(t, err, errors.ErrUnsupported, "fork without %q", runtime.CapCopy)
	assert.False(t, e.entry("b").Found, "b's entry after a refused fork")
}

func TestForksInOppositeDirectionsDoNotDeadlock(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("a", "echo a > /work/v"))
	e.run(nil, job("b", "echo b > /work/v"))
	errs := make(chan error, 20)
	for i := range 20 {
		from, to := "a", "b"
		if i%2 == 1 {
			from, to = to, from
		}
		go func() {
			_, err := e.core.Fork(context.Background(), WorkItem{WorkItem: from}, WorkItem{WorkItem: to})
			errs <- err
		}()
	}
	for i := range 20 {
		require.NoError(t, <-errs, "fork %d", i)
	}
	for _, item := range []string{"a", "b"} {
		en := e.entry(item)
		require.True(t, en.Found, "%s's entry", item)
		img := e.image(en.Snapshot.Image)
		assert.Equal(t, strconv.Itoa(en.Snapshot.Generation), img.Labels[LabelGeneration], "%s's generation label", item)
		assert.Equal(t, item, img.Labels[LabelWorkItem], "%s's work item label", item)
	}
}
