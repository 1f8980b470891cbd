package core

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecondRunUsesTheSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	script := `echo "snap=$BERTH_SNAPSHOT"; cat /work/state; echo run >> /work/state`
	res, out := e.run(nil, job("w1", script))
	requireSelected(t, res, false, ReasonNone, "first run")
	require.Equal(t, baseRef, res.Image, "first run's image")
	require.Equal(t, "snap=0\n", out, "first run's output")
	require.True(t, res.Commit.Committed, "first run not committed: %+v", res.Commit)
	require.Equal(t, 1, res.Commit.Generation, "first run's generation")
	res2, out := e.run(nil, job("w1", script))
	requireSelected(t, res2, true, ReasonHit, "second run")
	require.Equal(t, res.Commit.Image, res2.Image, "second run's image (the snapshot)")
	require.Equal(t, "snap=1\nrun\n", out, "second run's output (the first run's file and BERTH_SNAPSHOT=1)")
	require.Equal(t, 2, res2.Commit.Generation, "second commit's generation")
	got := e.core.Counters()
	for name, want := range map[string]float64{MetricJobs: 2, MetricHits: 1, MetricMisses: 1, MetricCommits: 2} {
		require.Equal(t, want, got[name], "counter %s", name)
	}
	e.noContainers()
}

func TestSnapshotsAreKeyedByRuntimeProjectAndWorkItem(t *testing.T) {
	e := newEnv(t, nil)
	other := newEnv(t, nil) // a second engine
	e.cfg.Runtimes = RuntimeList{{Name: "fake", Runtime: e.rt}, {Name: "other", Runtime: other.rt}}
	c := e.open()
	mark := func(j Job, rt, proj string) Job { j.Runtime, j.Project = rt, proj; return j }
	script := `cat /work/who; echo $1 > /work/who`
	for _, k := range []struct{ rt, proj, item string }{
		{"fake", "p", "w"}, {"other", "p", "w"}, {"fake", "q", "w"}, {"fake", "p", "v"},
	} {
		j := mark(job(k.item, script), k.rt, k.proj)
		j.Cmd = append(j.Cmd, "sh", k.rt+"/"+k.proj+"/"+k.item)
		res, out := e.run(c, j)
		require.False(t, res.Hit, "%v: first run hit a fresh key", k)
		require.Empty(t, out, "%v: first run's output", k)
		res, out = e.run(c, j)
		require.True(t, res.Hit, "%v: second run missed its own snapshot (%s)", k, res.Reason)
		require.Equal(t, k.rt+"/"+k.proj+"/"+k.item+"\n", out, "%v: second run's output (its own snapshot's)", k)
	}
}

func TestSnapshotsEnabledGloballyPerProjectAndPerJob(t *testing.T) {
	yes, no := true, false
	e := newEnv(t, func(c *Config) {
		c.Policy.Enabled = false
		c.Projects = map[string]ProjectPolicy{"on": {Enabled: &yes}, "off": {Enabled: &no}}
	})
	for _, tc := range []struct {
		name    string
		project string
		job     *bool
		want    bool
	}{
		{"global off", "", nil, false},
		{"project on", "on", nil, true},
		{"project off", "off", nil, false},
		{"job on over global", "", &yes, true},
		{"job off over project", "on", &no, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := job("w-"+tc.name, "true")
			j.Project, j.Snapshot = tc.project, tc.job
			res, _ := e.run(nil, j)
			require.Equal(t, tc.want, res.Commit.Committed, "committed: %+v", res.Commit)
			if !tc.want {
				require.Equal(t, ReasonDisabled, res.Reason, "snapshot reason")
				require.Equal(t, NoCommitDisabled, res.Commit.Reason, "commit reason")
			}
			assert.Equal(t, tc.want, result(e.run(nil, j)).Hit, "second run's hit")
		})
	}
}

func TestNoWorkItemNoSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	res, out := e.run(nil, job("", "echo $BERTH_SNAPSHOT"))
	requireSelected(t, res, false, ReasonNoWorkItem, "job without a work item")
	require.False(t, res.Commit.Committed, "job without a work item committed")
	require.Equal(t, NoCommitNoWorkItem, res.Commit.Reason, "commit reason")
	require.Equal(t, "0\n", out, "BERTH_SNAPSHOT of a job without a work item")
	imgs, _ := e.rt.ListImages(context.Background(), runtime.LabelFilter{LabelManagedBy: ManagedBy})
	require.Empty(t, imgs, "images made without a work item")
	got := e.core.Counters()
	assert.Zero(t, got[MetricMisses], "a job without work item is no miss")
	assert.Equal(t, float64(1), got[MetricJobs], "jobs counted")
}

func TestShortProjectTTLOverridesGlobal(t *testing.T) {
	short := time.Hour
	e := newEnv(t, func(c *Config) {
		c.Policy.TTL = 5 * time.Hour
		c.Projects = map[string]ProjectPolicy{"short": {TTL: &short}}
	})
	j := job("w", "true")
	j.Project = "short"
	g := job("w", "true")
	e.run(nil, j)
	e.run(nil, g)
	e.clk.Advance(2 * time.Hour)
	requireSelected(t, result(e.run(nil, j)), false, ReasonExpired, "project TTL 1h, 2h later")
	requireSelected(t, result(e.run(nil, g)), true, ReasonHit, "global TTL 5h, 2h later")
	// Expiry counts from the snapshot's creation: the run above re-made it.
	e.clk.Advance(4 * time.Hour)
	requireSelected(t, result(e.run(nil, g)), true, ReasonHit, "global TTL 5h, 4h after the last commit")
	e.clk.Advance(5 * time.Hour)
	requireSelected(t, result(e.run(nil, g)), false, ReasonExpired, "global TTL 5h, 5h after the last commit")
}

func TestLongProjectTTLOutlivesGlobal(t *testing.T) {
	long := 10 * time.Hour
	e := newEnv(t, func(c *Config) {
		c.Policy.TTL = time.Hour
		c.Projects = map[string]ProjectPolicy{"long": {TTL: &long}}
	})
	j := job("w", "true")
	j.Project = "long"
	e.run(nil, j)
	g := job("w", "true")
	e.run(nil, g)
	e.clk.Advance(5 * time.Hour)
	requireSelected(t, result(e.run(nil, j)), true, ReasonHit, "project TTL 10h (over the 1h global), 5h later")
	requireSelected(t, result(e.run(nil, g)), false, ReasonExpired, "global TTL 1h, 5h later")
}

func TestChangedBaseImageInvalidates(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("w", "touch /work/x"))
	// Same reference, new content: the base was rebuilt.
	e.loadBase(baseRef, map[string][]byte{"/etc/version": []byte("2")})
	res, out := e.run(nil, job("w", "test -f /work/x && echo stale; cat /etc/version"))
	requireSelected(t, res, false, ReasonBaseChanged, "rebuilt base")
	require.Equal(t, "2", out, "output on the rebuilt base (a fresh start)")
	// Another reference.
	e.loadBase("berth-test/other:1", nil)
	j := job("w", "true")
	j.Image = "berth-test/other:1"
	requireSelected(t, result(e.run(nil, j)), false, ReasonBaseChanged, "other base")
	requireSelected(t, result(e.run(nil, j)), true, ReasonHit, "same base again")
}

func TestSnapshotImageGoneFallsBackToBase(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.run(nil, job("w", "true"))
	require.NoError(t, e.rt.RemoveImage(context.Background(), res.Commit.ImageID))
	res, out := e.run(nil, job("w", "echo $BERTH_SNAPSHOT"))
	requireSelected(t, res, false, ReasonImageGone, "snapshot image removed")
	require.Equal(t, "0\n", out, "BERTH_SNAPSHOT on the base")
	assert.True(t, res.Commit.Committed, "not committed: %+v", res.Commit)
}

func TestRunFailingWithNotFoundRetriesOnBase(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("w", "true"))
	// The image vanishes between selection and Run.
	e.rt.FailNth("run", e.rt.Calls("run")+1, runtime.ErrNotFound)
	res, out := e.run(nil, job("w", "echo $BERTH_SNAPSHOT"))
	requireSelected(t, res, false, ReasonImageGone, "snapshot image gone at run")
	require.Equal(t, baseRef, res.Image, "image run after the retry")
	require.Equal(t, "0\n", out, "BERTH_SNAPSHOT after the retry")
	require.True(t, res.Commit.Committed, "not committed after the retry: %+v", res.Commit)
	require.Equal(t, 2, res.Commit.Generation, "generation committed after the retry")
	got := e.core.Counters()
	require.Zero(t, got[MetricHits], "hits (the retried job is a miss)")
	require.Equal(t, float64(2), got[MetricMisses], "misses (the retried job is a miss)")
	// Only once: a base image that is missing fails the job.
	e.rt.FailNth("run", e.rt.Calls("run")+1, runtime.ErrNotFound)
	e.rt.FailNth("run", e.rt.Calls("run")+2, runtime.ErrNotFound)
	_, err := e.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, runtime.ErrNotFound, "Run with snapshot and base both gone")
	require.False(t, e.entry("w").Found, "entry of a gone snapshot kept")
	e.noContainers()
}
