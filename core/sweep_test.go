package core

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSweepEvictsByProjectTTL(t *testing.T) {
	short := time.Hour
	e := newEnv(t, func(c *Config) {
		c.Policy.TTL = 10 * time.Hour
		c.Projects = map[string]ProjectPolicy{"short": {TTL: &short}}
	})
	j := job("w", "true")
	j.Project = "short"
	gone, _ := e.run(nil, j)
	kept, _ := e.run(nil, job("w", "true"))
	e.clk.Advance(2 * time.Hour)
	dry := e.sweep(nil, SweepOptions{DryRun: true})
	require.Len(t, dry.Evicted, 1, "dry run's evictions: %+v", dry)
	require.Equal(t, gone.Commit.Size, dry.BytesReclaimed, "dry run's bytes reclaimed")
	require.True(t, e.imageExists(gone.Commit.Image), "a dry run removed the image")
	require.Equal(t, 1, e.count("short"), "snapshots of project short after a dry run")
	rep := e.sweep(nil, SweepOptions{})
	require.Len(t, rep.Evicted, 1, "evicted %+v, want only the short-TTL project's snapshot", rep.Evicted)
	require.Equal(t, gone.Commit.Image, rep.Evicted[0].Image, "evicted image (the short-TTL project's)")
	require.False(t, e.imageExists(gone.Commit.Image), "evicted image still there")
	require.True(t, e.imageExists(kept.Commit.Image), "kept image removed")
	assert.Equal(t, gone.Commit.Size, rep.BytesReclaimed, "bytes reclaimed")
	assert.Equal(t, float64(1), e.core.Counters()[MetricEvictions], "evictions counted")
	assert.Equal(t, float64(gone.Commit.Size), e.core.Counters()[MetricBytesReclaimed], "bytes reclaimed counted")
}

func (e *env) count(project string) int {
	e.t.Helper()
	snaps, err := e.core.Snapshots(context.Background(), project)
	require.NoError(e.t, err)
	return len(snaps)
}

func TestSweepEvictsLeastRecentlyUsedOverCount(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.MaxCount = 2 })
	for _, item := range []string{"a", "b", "c"} {
		e.run(nil, job(item, "true"))
		e.clk.Advance(time.Minute)
	}
	// a is used again (a hit that fails does not commit, but counts as use).
	e.run(nil, job("a", "exit 1"))
	rep := e.sweep(nil, SweepOptions{})
	require.Len(t, rep.Evicted, 1, "evicted %+v, want b", rep.Evicted)
	require.Equal(t, "b", rep.Evicted[0].WorkItem, "work item evicted (the least recently used)")
	snaps, _ := e.core.Snapshots(context.Background(), "")
	assert.Len(t, snaps, 2, "snapshots left")
}

func TestSweepEvictsOverTotalSize(t *testing.T) {
	e := newEnv(t, nil)
	sizes := map[string]int64{}
	for _, it := range []struct{ item, n string }{{"big", "30000"}, {"mid", "20000"}, {"small", "10000"}} {
		res, _ := e.run(nil, job(it.item, "head -c "+it.n+" /dev/zero > /work/blob"))
		sizes[it.item] = res.Commit.Size
		e.clk.Advance(time.Minute)
	}
	require.Greater(t, sizes["big"], sizes["mid"], "sizes %v do not grow with content", sizes)
	require.Greater(t, sizes["mid"], sizes["small"], "sizes %v do not grow with content", sizes)
	// Room for mid and small only: big is the least recently used.
	e.cfg.Policy.MaxBytes = sizes["mid"] + sizes["small"]
	c := e.open()
	rep := e.sweep(c, SweepOptions{})
	require.Len(t, rep.Evicted, 1, "evicted %+v, want big", rep.Evicted)
	require.Equal(t, "big", rep.Evicted[0].WorkItem, "work item evicted")
	require.Equal(t, sizes["big"], rep.BytesReclaimed, "bytes reclaimed (big's)")
}

func TestSweepSkipsImagesInUseAndRetries(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.TTL = time.Hour })
	res, _ := e.run(nil, job("w", "true"))
	e.clk.Advance(2 * time.Hour)
	e.rt.FailNth(fake.OpRemoveImage, e.rt.Calls(fake.OpRemoveImage)+1, runtime.ErrConflict)
	rep, err := e.core.Sweep(context.Background(), SweepOptions{})
	require.NoError(t, err, "an image in use is no sweep error")
	require.Len(t, rep.Evicted, 1, "first sweep: %+v", rep)
	require.Contains(t, rep.Skipped, res.Commit.Image, "first sweep: image in use not skipped")
	require.True(t, e.imageExists(res.Commit.ImageID), "first sweep removed the image in use")
	rep = e.sweep(nil, SweepOptions{})
	assert.Contains(t, rep.RemovedImages, res.Commit.Image, "second sweep did not retry")
	assert.False(t, e.imageExists(res.Commit.ImageID), "image left after the second sweep")
}

func TestSweepLeavesSnapshotOfARunningJob(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.TTL = time.Hour })
	res, _ := e.run(nil, job("w", "true"))
	e.clk.Advance(30 * time.Minute)
	stop := e.startBlocking(nil, job("w", "sleep 3600")) // runs on the snapshot
	e.clk.Advance(time.Hour)
	rep := e.sweep(nil, SweepOptions{})
	require.Empty(t, rep.Evicted, "evicted the snapshot a job is running on")
	require.True(t, e.imageExists(res.Commit.Image), "removed the image a job is running on")
	stop()
	rep = e.sweep(nil, SweepOptions{})
	require.Len(t, rep.Evicted, 1, "evictions after the job: %+v", rep)
}

func TestInvalidate(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	_, err := e.core.Invalidate(ctx, "", "w")
	require.ErrorIs(t, err, runtime.ErrNotFound, "Invalidate without snapshot")
	res, _ := e.run(nil, job("w", "touch /work/bad"))
	got, err := e.core.Invalidate(ctx, "", "w")
	require.NoError(t, err, "Invalidate")
	require.Len(t, got, 1, "snapshots invalidated: %+v", got)
	require.Equal(t, res.Commit.Image, got[0].Image, "image invalidated")
	require.False(t, e.imageExists(res.Commit.ImageID), "image left after Invalidate")
	require.False(t, e.entry("w").Found, "entry left after Invalidate")
	res, out := e.run(nil, job("w", "test -f /work/bad && echo stale; true"))
	require.False(t, res.Hit, "hit after Invalidate")
	require.Equal(t, ReasonNone, res.Reason, "reason after Invalidate")
	require.Empty(t, out, "output after Invalidate")
	require.Equal(t, 2, res.Commit.Generation, "generation after Invalidate")
	// A sweep never adopts an invalidated generation left in use.
	e.rt.FailNth(fake.OpRemoveImage, e.rt.Calls(fake.OpRemoveImage)+1, runtime.ErrConflict)
	e.core.Invalidate(ctx, "", "w")
	rep := e.sweep(nil, SweepOptions{})
	assert.Empty(t, rep.AdoptedImages, "sweep after an invalidation left in use adopted images")
	assert.Contains(t, rep.RemovedImages, res.Commit.Image, "sweep after an invalidation left in use did not remove the image")
}

func TestTimedSweep(t *testing.T) {
	e := newEnv(t, nil)
	orphan := e.orphan("gone")
	e.clk.Advance(time.Hour)
	e.cfg.GCInterval = time.Millisecond
	e.open()
	waitFor(t, "the timed sweep to reap the orphan", func() bool {
		_, err := e.rt.InspectContainer(context.Background(), orphan.ID)
		return errors.Is(err, runtime.ErrNotFound)
	})
}
