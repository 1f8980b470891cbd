package core

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
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
	if len(dry.Evicted) != 1 || dry.BytesReclaimed != gone.Commit.Size || !e.imageExists(gone.Commit.Image) || e.count("short") != 1 {
		t.Fatalf("dry run: %+v; must report and keep everything", dry)
	}
	rep := e.sweep(nil, SweepOptions{})
	if len(rep.Evicted) != 1 || rep.Evicted[0].Image != gone.Commit.Image {
		t.Fatalf("evicted %+v, want only the short-TTL project's snapshot", rep.Evicted)
	}
	if e.imageExists(gone.Commit.Image) || !e.imageExists(kept.Commit.Image) {
		t.Fatal("wrong images removed")
	}
	if rep.BytesReclaimed != gone.Commit.Size || e.core.Counters()[MetricEvictions] != 1 ||
		e.core.Counters()[MetricBytesReclaimed] != float64(gone.Commit.Size) {
		t.Fatalf("bytes %d (want %d), counters %v", rep.BytesReclaimed, gone.Commit.Size, e.core.Counters())
	}
}

func (e *env) count(project string) int {
	e.t.Helper()
	snaps, err := e.core.Snapshots(context.Background(), project)
	if err != nil {
		e.t.Fatal(err)
	}
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
	if len(rep.Evicted) != 1 || rep.Evicted[0].WorkItem != "b" {
		t.Fatalf("evicted %+v, want b (least recently used)", rep.Evicted)
	}
	if snaps, _ := e.core.Snapshots(context.Background(), ""); len(snaps) != 2 {
		t.Fatalf("%d snapshots left, want 2", len(snaps))
	}
}

func TestSweepEvictsOverTotalSize(t *testing.T) {
	e := newEnv(t, nil)
	sizes := map[string]int64{}
	for _, it := range []struct{ item, n string }{{"big", "30000"}, {"mid", "20000"}, {"small", "10000"}} {
		res, _ := e.run(nil, job(it.item, "head -c "+it.n+" /dev/zero > /work/blob"))
		sizes[it.item] = res.Commit.Size
		e.clk.Advance(time.Minute)
	}
	if !(sizes["big"] > sizes["mid"] && sizes["mid"] > sizes["small"]) {
		t.Fatalf("sizes %v do not grow with content", sizes)
	}
	// Room for mid and small only: big is the least recently used.
	e.cfg.Policy.MaxBytes = sizes["mid"] + sizes["small"]
	c := e.open()
	rep := e.sweep(c, SweepOptions{})
	if len(rep.Evicted) != 1 || rep.Evicted[0].WorkItem != "big" || rep.BytesReclaimed != sizes["big"] {
		t.Fatalf("evicted %+v (%d bytes), want big (%d bytes)", rep.Evicted, rep.BytesReclaimed, sizes["big"])
	}
}

func TestSweepSkipsImagesInUseAndRetries(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.TTL = time.Hour })
	res, _ := e.run(nil, job("w", "true"))
	e.clk.Advance(2 * time.Hour)
	e.rt.FailNth(fake.OpRemoveImage, e.rt.Calls(fake.OpRemoveImage)+1, runtime.ErrConflict)
	rep, err := e.core.Sweep(context.Background(), SweepOptions{})
	if err != nil {
		t.Fatalf("an image in use is no sweep error: %v", err)
	}
	if len(rep.Evicted) != 1 || !slices.Contains(rep.Skipped, res.Commit.Image) || !e.imageExists(res.Commit.ImageID) {
		t.Fatalf("first sweep: %+v", rep)
	}
	rep = e.sweep(nil, SweepOptions{})
	if !slices.Contains(rep.RemovedImages, res.Commit.Image) || e.imageExists(res.Commit.ImageID) {
		t.Fatalf("second sweep did not retry: %+v", rep)
	}
}

func TestSweepLeavesSnapshotOfARunningJob(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.TTL = time.Hour })
	res, _ := e.run(nil, job("w", "true"))
	e.clk.Advance(30 * time.Minute)
	stop := e.startBlocking(nil, job("w", "sleep 3600")) // runs on the snapshot
	e.clk.Advance(time.Hour)
	rep := e.sweep(nil, SweepOptions{})
	if len(rep.Evicted) != 0 || !e.imageExists(res.Commit.Image) {
		t.Fatalf("evicted the snapshot a job is running on: %+v", rep)
	}
	stop()
	if rep := e.sweep(nil, SweepOptions{}); len(rep.Evicted) != 1 {
		t.Fatalf("after the job: %+v", rep)
	}
}

func TestInvalidate(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.core.Invalidate(ctx, "", "w"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Invalidate without snapshot: %v, want ErrNotFound", err)
	}
	res, _ := e.run(nil, job("w", "touch /work/bad"))
	got, err := e.core.Invalidate(ctx, "", "w")
	if err != nil || len(got) != 1 || got[0].Image != res.Commit.Image {
		t.Fatalf("Invalidate: %+v, %v", got, err)
	}
	if e.imageExists(res.Commit.ImageID) || e.entry("w").Found {
		t.Fatal("image or entry left")
	}
	res, out := e.run(nil, job("w", "test -f /work/bad && echo stale; true"))
	if res.Hit || res.Reason != ReasonNone || out != "" || res.Commit.Generation != 2 {
		t.Fatalf("after Invalidate: hit=%v %q out=%q gen=%d", res.Hit, res.Reason, out, res.Commit.Generation)
	}
	// A sweep never adopts an invalidated generation left in use.
	e.rt.FailNth(fake.OpRemoveImage, e.rt.Calls(fake.OpRemoveImage)+1, runtime.ErrConflict)
	e.core.Invalidate(ctx, "", "w")
	if rep := e.sweep(nil, SweepOptions{}); len(rep.AdoptedImages) != 0 || !slices.Contains(rep.RemovedImages, res.Commit.Image) {
		t.Fatalf("sweep after an invalidation left in use: %+v", rep)
	}
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
