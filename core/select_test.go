package core

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
)

func TestSecondRunUsesTheSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	script := `echo "snap=$BERTH_SNAPSHOT"; cat /work/state; echo run >> /work/state`
	res, out := e.run(nil, job("w1", script))
	if res.Hit || res.Reason != ReasonNone || res.Image != baseRef || out != "snap=0\n" {
		t.Fatalf("first run: hit=%v reason=%q image=%q out=%q", res.Hit, res.Reason, res.Image, out)
	}
	if !res.Commit.Committed || res.Commit.Generation != 1 {
		t.Fatalf("first run not committed: %+v", res.Commit)
	}
	res2, out := e.run(nil, job("w1", script))
	if !res2.Hit || res2.Reason != ReasonHit || res2.Image != res.Commit.Image {
		t.Fatalf("second run: hit=%v reason=%q image=%q, want the snapshot %q", res2.Hit, res2.Reason, res2.Image, res.Commit.Image)
	}
	if out != "snap=1\nrun\n" {
		t.Fatalf("second run saw %q, want the first run's file and BERTH_SNAPSHOT=1", out)
	}
	if res2.Commit.Generation != 2 {
		t.Fatalf("second commit generation %d, want 2", res2.Commit.Generation)
	}
	got := e.core.Counters()
	if got[MetricJobs] != 2 || got[MetricHits] != 1 || got[MetricMisses] != 1 || got[MetricCommits] != 2 {
		t.Fatalf("counters: %v", got)
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
		if res, out := e.run(c, j); res.Hit || out != "" {
			t.Fatalf("%v: first run hit=%v out=%q; want a miss on a fresh key", k, res.Hit, out)
		}
		if res, out := e.run(c, j); !res.Hit || out != k.rt+"/"+k.proj+"/"+k.item+"\n" {
			t.Fatalf("%v: second run hit=%v out=%q; want its own snapshot", k, res.Hit, out)
		}
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
			if res.Commit.Committed != tc.want {
				t.Fatalf("committed=%v, want %v (%+v)", res.Commit.Committed, tc.want, res.Commit)
			}
			if !tc.want && (res.Reason != ReasonDisabled || res.Commit.Reason != NoCommitDisabled) {
				t.Fatalf("reason %q / commit reason %q, want disabled", res.Reason, res.Commit.Reason)
			}
			if res2, _ := e.run(nil, j); res2.Hit != tc.want {
				t.Fatalf("second run hit=%v, want %v", res2.Hit, tc.want)
			}
		})
	}
}

func TestNoWorkItemNoSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	res, out := e.run(nil, job("", "echo $BERTH_SNAPSHOT"))
	if res.Hit || res.Reason != ReasonNoWorkItem || res.Commit.Committed || res.Commit.Reason != NoCommitNoWorkItem || out != "0\n" {
		t.Fatalf("%+v out=%q", res, out)
	}
	if imgs, _ := e.rt.ListImages(context.Background(), runtime.LabelFilter{LabelManagedBy: ManagedBy}); len(imgs) != 0 {
		t.Fatalf("images made without a work item: %v", imgs)
	}
	if got := e.core.Counters(); got[MetricMisses] != 0 || got[MetricJobs] != 1 {
		t.Fatalf("counters %v: a job without work item is no miss", got)
	}
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
	if res, _ := e.run(nil, j); res.Hit || res.Reason != ReasonExpired {
		t.Fatalf("project TTL 1h, 2h later: hit=%v %q, want expired", res.Hit, res.Reason)
	}
	if res, _ := e.run(nil, g); !res.Hit {
		t.Fatalf("global TTL 5h, 2h later: %q, want a hit", res.Reason)
	}
	// Expiry counts from the snapshot's creation: the run above re-made it.
	e.clk.Advance(4 * time.Hour)
	if res, _ := e.run(nil, g); !res.Hit {
		t.Fatalf("global TTL 5h, 4h after the last commit: %q, want a hit", res.Reason)
	}
	e.clk.Advance(5 * time.Hour)
	if res, _ := e.run(nil, g); res.Hit || res.Reason != ReasonExpired {
		t.Fatalf("global TTL 5h, 5h after the last commit: hit=%v %q, want expired", res.Hit, res.Reason)
	}
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
	if res, _ := e.run(nil, j); !res.Hit {
		t.Fatalf("project TTL 10h, 5h later: %q, want a hit (project overrides the 1h global)", res.Reason)
	}
	if res, _ := e.run(nil, g); res.Hit || res.Reason != ReasonExpired {
		t.Fatalf("global TTL 1h, 5h later: hit=%v %q, want expired", res.Hit, res.Reason)
	}
}

func TestChangedBaseImageInvalidates(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("w", "touch /work/x"))
	// Same reference, new content: the base was rebuilt.
	e.loadBase(baseRef, map[string][]byte{"/etc/version": []byte("2")})
	res, out := e.run(nil, job("w", "test -f /work/x && echo stale; cat /etc/version"))
	if res.Hit || res.Reason != ReasonBaseChanged || out != "2" {
		t.Fatalf("rebuilt base: hit=%v reason=%q out=%q, want base-changed and a fresh start", res.Hit, res.Reason, out)
	}
	// Another reference.
	e.loadBase("berth-test/other:1", nil)
	j := job("w", "true")
	j.Image = "berth-test/other:1"
	if res, _ := e.run(nil, j); res.Hit || res.Reason != ReasonBaseChanged {
		t.Fatalf("other base: hit=%v reason=%q, want base-changed", res.Hit, res.Reason)
	}
	if res, _ := e.run(nil, j); !res.Hit {
		t.Fatalf("same base again: %q, want a hit", res.Reason)
	}
}

func TestSnapshotImageGoneFallsBackToBase(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.run(nil, job("w", "true"))
	if err := e.rt.RemoveImage(context.Background(), res.Commit.ImageID); err != nil {
		t.Fatal(err)
	}
	res, out := e.run(nil, job("w", "echo $BERTH_SNAPSHOT"))
	if res.Hit || res.Reason != ReasonImageGone || out != "0\n" || !res.Commit.Committed {
		t.Fatalf("hit=%v reason=%q out=%q commit=%+v", res.Hit, res.Reason, out, res.Commit)
	}
}

func TestRunFailingWithNotFoundRetriesOnBase(t *testing.T) {
	e := newEnv(t, nil)
	e.run(nil, job("w", "true"))
	// The image vanishes between selection and Run.
	e.rt.FailNth("run", e.rt.Calls("run")+1, runtime.ErrNotFound)
	res, out := e.run(nil, job("w", "echo $BERTH_SNAPSHOT"))
	if res.Hit || res.Reason != ReasonImageGone || res.Image != baseRef || out != "0\n" {
		t.Fatalf("hit=%v reason=%q image=%q out=%q", res.Hit, res.Reason, res.Image, out)
	}
	if !res.Commit.Committed || res.Commit.Generation != 2 {
		t.Fatalf("commit after the retry: %+v", res.Commit)
	}
	if got := e.core.Counters(); got[MetricHits] != 0 || got[MetricMisses] != 2 {
		t.Fatalf("counters %v: the retried job is a miss", got)
	}
	// Only once: a base image that is missing fails the job.
	e.rt.FailNth("run", e.rt.Calls("run")+1, runtime.ErrNotFound)
	e.rt.FailNth("run", e.rt.Calls("run")+2, runtime.ErrNotFound)
	_, err := e.core.Run(context.Background(), job("w", "true"))
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Run with snapshot and base both gone: %v, want ErrNotFound", err)
	}
	if en := e.entry("w"); en.Found {
		t.Fatal("entry of a gone snapshot kept")
	}
	e.noContainers()
}
