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

// A snapshot expires when its project's TTL ends (the global TTL
// otherwise), as listed, reported and told in events; never with a TTL of
// 0.
func TestSnapshotExpires(t *testing.T) {
	short, forever := time.Hour, time.Duration(0)
	ev := &events{}
	e := newEnv(t, func(c *Config) {
		c.Policy.TTL = 10 * time.Hour
		c.Projects = map[string]ProjectPolicy{"short": {TTL: &short}, "forever": {TTL: &forever}}
		c.OnEvent = ev.add
	})
	for _, p := range []string{"short", "forever", "default"} {
		j := job("w", "true")
		j.Project = p
		waitJob(t, e.core, submit(t, e.core, j).ID)
	}
	want := map[string]time.Duration{"short": time.Hour, "default": 10 * time.Hour}
	snaps, err := e.core.Snapshots(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, snaps, 3)
	for _, sn := range snaps {
		if ttl, ok := want[sn.Project]; ok {
			assert.Equal(t, sn.Created.Add(ttl), sn.Expires, "expiry of project %s's snapshot", sn.Project)
		} else {
			assert.True(t, sn.Expires.IsZero(), "project %s keeps snapshots forever, yet they expire at %s", sn.Project, sn.Expires)
		}
	}
	ev.mu.Lock()
	var committed []Snapshot
	for _, e := range ev.all {
		if e.Type == EventSnapshotCommitted {
			committed = append(committed, *e.Snapshot)
		}
	}
	ev.mu.Unlock()
	require.Len(t, committed, 3, "snapshot.committed events")
	for _, sn := range committed {
		if ttl, ok := want[sn.Project]; ok {
			assert.Equal(t, sn.Created.Add(ttl), sn.Expires, "expiry told of project %s's commit", sn.Project)
		} else {
			assert.True(t, sn.Expires.IsZero(), "expiry told of project %s's commit", sn.Project)
		}
	}
}

// Every sweep that ends is told as EventGCDone: when it ran, what started
// it and its report.
func TestSweepIsTold(t *testing.T) {
	ev := &events{}
	e := newEnv(t, func(c *Config) {
		c.Policy.TTL = time.Hour
		c.OnEvent = ev.add
	})
	res, _ := e.run(nil, job("w", "true"))
	e.clk.Advance(2 * time.Hour)
	before := e.clk.Now()
	dry := e.sweep(nil, SweepOptions{DryRun: true})
	rep := e.sweep(nil, SweepOptions{})
	require.Len(t, rep.Evicted, 1)

	var runs []SweepRun
	var evicted int
	ev.mu.Lock()
	for _, e := range ev.all {
		switch e.Type {
		case EventGCDone:
			require.NotNil(t, e.GC, "gc.done without its run")
			assert.Equal(t, e.GC.Ended, e.Time, "the event's time is the sweep's end")
			runs = append(runs, *e.GC)
		case EventSnapshotEvicted:
			assert.Len(t, runs, 1, "a snapshot.evicted told before the dry run's gc.done or after the sweep's")
			evicted++
		}
	}
	ev.mu.Unlock()
	require.Len(t, runs, 2, "gc.done events of a dry run and a sweep")
	assert.Equal(t, 1, evicted, "snapshot.evicted events")
	for i, want := range []SweepReport{dry, rep} {
		assert.Equal(t, SweepOnRequest, runs[i].Trigger)
		assert.Equal(t, want, runs[i].Report)
		assert.Empty(t, runs[i].Error)
		assert.False(t, runs[i].Started.Before(before), "run %d started at %s, before the sweep", i, runs[i].Started)
		assert.False(t, runs[i].Ended.Before(runs[i].Started), "run %d ended before it started", i)
	}
	assert.True(t, runs[0].Report.DryRun)
	assert.Equal(t, res.Commit.Image, runs[1].Report.Evicted[0].Image)

	// A timed sweep is told as one.
	e.cfg.GCInterval = time.Millisecond
	e.open()
	waitFor(t, "a timed sweep's gc.done", func() bool {
		ev.mu.Lock()
		defer ev.mu.Unlock()
		for _, e := range ev.all {
			if e.Type == EventGCDone && e.GC.Trigger == SweepOnTimer {
				return true
			}
		}
		return false
	})
}
