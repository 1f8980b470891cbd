package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// GET /v1/gc/runs lists the gc runs asked of the daemon, newest first,
// each with its report as POST /v1/gc answered it; gc.done events tell
// them as they end.
func TestGCRuns(t *testing.T) {
	e := newEnv(t, setup{core: func(c *core.Config) { c.Policy.MaxCount = 1 }})
	col := e.follow("unknown")
	ctx := context.Background()
	runs, err := e.c.GCRuns(ctx)
	require.NoError(t, err)
	assert.Empty(t, runs, "gc runs of a new daemon")

	e.commit("p", "w1")
	e.commit("p", "w2")
	before := time.Now()
	dry, err := e.c.GC(ctx, core.SweepOptions{DryRun: true})
	require.NoError(t, err)
	rep, err := e.c.GC(ctx, core.SweepOptions{})
	require.NoError(t, err)
	require.Len(t, rep.Evicted, 1)

	runs, err = e.c.GCRuns(ctx)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	for i, want := range []core.SweepReport{rep, dry} { // newest first
		assert.Equal(t, core.SweepOnRequest, runs[i].Trigger)
		assert.JSONEq(t, jsonOf(t, want), jsonOf(t, runs[i].Report), "run %d's report is POST /v1/gc's answer", i)
		assert.False(t, runs[i].Started.Before(before.Truncate(time.Second)), "run %d started at %s", i, runs[i].Started)
		assert.False(t, runs[i].Ended.Before(runs[i].Started), "run %d ended before it started", i)
		assert.Empty(t, runs[i].Error)
	}
	assert.Equal(t, rep.BytesReclaimed, runs[0].Report.BytesReclaimed)
	assert.Positive(t, runs[0].Report.BytesReclaimed, "the eviction reclaimed bytes")

	require.Eventually(t, func() bool { return len(gcEvents(col)) == 2 }, time.Minute, 10*time.Millisecond,
		"two gc.done events")
	told := gcEvents(col)
	assert.True(t, told[0].GC.Report.DryRun, "the first gc.done is the dry run's")
	assert.JSONEq(t, jsonOf(t, runs[0]), jsonOf(t, *told[1].GC), "the second gc.done tells the run listed first")
}

func gcEvents(col *collector) []client.Event {
	var out []client.Event
	for _, ev := range col.events() {
		if ev.Type == core.EventGCDone {
			out = append(out, ev)
		}
	}
	return out
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The daemon's timed sweeps are listed as such.
func TestGCRunsOfTheTimer(t *testing.T) {
	e := newEnv(t, setup{core: func(c *core.Config) { c.GCInterval = 20 * time.Millisecond }})
	require.Eventually(t, func() bool {
		runs, err := e.c.GCRuns(context.Background())
		require.NoError(t, err)
		return len(runs) > 0 && runs[0].Trigger == core.SweepOnTimer
	}, time.Minute, 10*time.Millisecond, "a timed gc run listed")
}

// The daemon keeps the last server.GCRuns runs.
func TestGCRunsAreBounded(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	for i := range server.GCRuns + 3 {
		// Every third is a dry run, so the runs are told apart.
		_, err := e.c.GC(ctx, core.SweepOptions{DryRun: i%3 == 0})
		require.NoError(t, err)
	}
	runs, err := e.c.GCRuns(ctx)
	require.NoError(t, err)
	require.Len(t, runs, server.GCRuns)
	for i, run := range runs {
		n := server.GCRuns + 2 - i // the run's number, newest first
		assert.Equal(t, n%3 == 0, run.Report.DryRun, "run %d (listed %d)", n, i)
		if i > 0 {
			assert.False(t, run.Started.After(runs[i-1].Started), "run listed %d started after the one listed before it", i)
		}
	}
}

// GET /v1/disk samples the snapshots' sizes per project: one at the start,
// then after each commit and eviction.
func TestDiskUsage(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	last := func() api.DiskSample {
		samples, err := e.c.DiskUsage(ctx)
		require.NoError(t, err)
		require.NotEmpty(t, samples, "a sample from the start")
		require.True(t, slices.IsSortedFunc(samples, func(a, b api.DiskSample) int { return a.Time.Compare(b.Time) }),
			"samples oldest first")
		return samples[len(samples)-1]
	}
	require.Eventually(t, func() bool {
		samples, err := e.c.DiskUsage(ctx)
		require.NoError(t, err)
		return len(samples) > 0
	}, time.Minute, 10*time.Millisecond, "the first sample")
	first := last()
	assert.Zero(t, first.SizeBytes)
	assert.Zero(t, first.Snapshots)
	assert.Empty(t, first.Projects)

	e.commit("p1", "w1")
	e.commit("p1", "w2")
	e.commit("p2", "w1")
	want := func() api.DiskSample {
		snaps, err := e.c.Snapshots(ctx, "")
		require.NoError(t, err)
		byProject := map[string]*api.ProjectUsage{}
		var s api.DiskSample
		for _, sn := range snaps {
			if byProject[sn.Project] == nil {
				byProject[sn.Project] = &api.ProjectUsage{Project: sn.Project}
			}
			byProject[sn.Project].SizeBytes += sn.Size
			byProject[sn.Project].Snapshots++
			s.SizeBytes += sn.Size
			s.Snapshots++
		}
		for _, p := range []string{"p1", "p2"} {
			if u := byProject[p]; u != nil {
				s.Projects = append(s.Projects, *u)
			}
		}
		return s
	}
	sameUsage := func(a, b api.DiskSample) bool {
		return a.SizeBytes == b.SizeBytes && a.Snapshots == b.Snapshots && slices.Equal(a.Projects, b.Projects)
	}
	three := want()
	require.Equal(t, 3, three.Snapshots)
	require.Positive(t, three.SizeBytes)
	require.Eventually(t, func() bool { return sameUsage(last(), three) }, time.Minute, 10*time.Millisecond,
		"a sample of the three snapshots, by project (want %+v)", three)

	_, err := e.c.DeleteSnapshots(ctx, "p1", "")
	require.NoError(t, err)
	one := want()
	require.Len(t, one.Projects, 1, "p2 only")
	require.Eventually(t, func() bool { return sameUsage(last(), one) }, time.Minute, 10*time.Millisecond,
		"a sample after the eviction (want %+v)", one)
}

// A snapshot's expiry is its creation plus its project's TTL.
func TestSnapshotExpiry(t *testing.T) {
	e := newEnv(t, setup{core: func(c *core.Config) { c.Policy.TTL = time.Hour }})
	e.commit("p", "w")
	snaps, err := e.c.Snapshots(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.Equal(t, snaps[0].Created.Add(time.Hour), snaps[0].Expires)

	e = newEnv(t, setup{})
	e.commit("p", "w")
	snaps, err = e.c.Snapshots(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, snaps, 1)
	assert.True(t, snaps[0].Expires.IsZero(), "without a TTL a snapshot never expires")
}
