package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// coldAndWarm: the first run of a work item starts from the base image
// and is committed; the next ones start from the snapshot and see the
// first run's files.
func coldAndWarm(t *testing.T, e *env) {
	const w = "item-1"
	cold, out := e.run(w, nil, `test -f /work/seen && exit 7; echo cold > /work/seen; echo "snapshot=$BERTH_SNAPSHOT"`)
	if out.code != 0 || cold.ExitCode != 0 {
		t.Fatalf("cold run: %v", out)
	}
	if cold.Hit || !cold.Commit.Committed || cold.Commit.Image == "" {
		t.Fatalf("cold run: hit %v (%s), commit %+v; want a miss that is committed", cold.Hit, cold.Reason, cold.Commit)
	}
	if !strings.Contains(out.stderr, "snapshot=0") {
		t.Errorf("with --json the job's stdout goes to stderr: %q", out.stderr)
	}
	if cold.Project != e.project || cold.WorkItem != w || cold.Runtime != e.s.tg.name {
		t.Errorf("cold run result names %s/%s on %s", cold.Project, cold.WorkItem, cold.Runtime)
	}

	// Without --json: the job's output on stdout as it is, one summary line
	// on stderr.
	out = e.berth("run", "--image", e.s.base, "--project", e.project, "--work-item", w, "--",
		"sh", "-c", `cat /work/seen; echo "snapshot=$BERTH_SNAPSHOT"; echo to-stderr >&2`)
	if out.code != 0 || out.stdout != "cold\nsnapshot=1\n" {
		t.Fatalf("warm run: %v; want stdout %q", out, "cold\nsnapshot=1\n")
	}
	job, summary, _ := strings.Cut(out.stderr, "\n")
	if job != "to-stderr" {
		t.Errorf("warm run: the job's stderr %q is missing", out.stderr)
	}
	oneLine(t, output{stderr: summary}, "hit", "committed")

	warm := e.mustRun(w, `cat /work/seen`)
	if !warm.Hit || !warm.Commit.Committed || warm.Commit.Generation != cold.Commit.Generation+2 {
		t.Errorf("warm run: hit %v (%s), commit %+v; want a hit committed as generation %d",
			warm.Hit, warm.Reason, warm.Commit, cold.Commit.Generation+2)
	}

	snaps := e.snapshots()
	if len(snaps) != 1 {
		t.Fatalf("snapshots ls: %+v, want one", snaps)
	}
	s := snaps[0]
	if s.Project != e.project || s.WorkItem != w || s.Runtime != e.s.tg.name || s.Generation != warm.Commit.Generation ||
		s.Image != warm.Commit.Image || s.ImageID == "" || s.Size <= 0 || s.Layers < 1 ||
		s.Created.IsZero() || s.LastUsed.IsZero() {
		t.Errorf("snapshots ls --json: %+v; want generation %d of %s/%s, image %s", s, warm.Commit.Generation, e.project, w, warm.Commit.Image)
	}
	img, err := e.driver().InspectImage(t.Context(), s.Image)
	if err != nil || img.ID != s.ImageID {
		t.Errorf("engine's image %s: %+v, %v; want ID %s", s.Image, img, err, s.ImageID)
	}
	e.noContainers()
}

// failingRun: a job that exits non-zero gives its exit code and commits
// nothing; the next job starts from the last good snapshot.
func failingRun(t *testing.T, e *env) {
	const w = "item-fail"
	good := e.mustRun(w, `echo one > /work/kept`)
	res, out := e.run(w, nil, `echo bad > /work/bad; exit 3`)
	if out.code != 3 || res.ExitCode != 3 {
		t.Fatalf("failing run: %v; want exit code 3", out)
	}
	if res.Commit.Committed || res.Commit.Reason == "" {
		t.Errorf("failing run committed: %+v", res.Commit)
	}
	if snaps := e.snapshots(); len(snaps) != 1 || snaps[0].Generation != good.Commit.Generation {
		t.Errorf("snapshots after a failing run: %+v; want only generation %d", snaps, good.Commit.Generation)
	}
	next := e.mustRun(w, `test -f /work/kept || exit 9; test -f /work/bad && exit 8; true`)
	if !next.Hit {
		t.Errorf("run after a failure: %s, want a hit", next.Reason)
	}

	// A failing first run leaves no snapshot at all.
	res, out = e.run("item-fail-first", nil, `exit 3`)
	if out.code != 3 || res.Commit.Committed {
		t.Errorf("failing first run: %v", out)
	}
	for _, s := range e.snapshots() {
		if s.WorkItem == "item-fail-first" {
			t.Errorf("snapshot of a failed run: %+v", s)
		}
	}
	e.noContainers()
}

// timedOut: a job past its --timeout is stopped: exit code 124, nothing
// committed, no container left.
func timedOut(t *testing.T, e *env) {
	e.writeConfig("job:\n  stop_grace: 2s\n")
	res, out := e.run("item-timeout", []string{"--timeout", "1s"}, `sleep 30`)
	if out.code != 124 || !res.TimedOut {
		t.Fatalf("timed-out run: %v; want exit code 124", out)
	}
	if res.Commit.Committed {
		t.Errorf("timed-out run committed: %+v", res.Commit)
	}
	if snaps := e.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots after a timeout: %+v", snaps)
	}
	e.noContainers()
}

// generations: one work item run many times in a row; every run succeeds
// and, after the first, starts from the previous run's snapshot.
func generations(t *testing.T, e *env) {
	n := 200
	if v := os.Getenv("BERTH_E2E_GENERATIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 {
			t.Fatalf("BERTH_E2E_GENERATIONS=%q: want a number >= 2", v)
		}
	}
	const w = "item-gen"
	prev := 0
	for i := 1; i <= n; i++ {
		script := "touch /work/g1"
		if i > 1 {
			script = fmt.Sprintf("test -f /work/g%d || exit 9; touch /work/g%d", i-1, i)
		}
		res, out := e.run(w, nil, script)
		if out.code != 0 {
			t.Fatalf("run %d: %v", i, out)
		}
		if res.Hit != (i > 1) || !res.Commit.Committed {
			t.Fatalf("run %d: hit %v (%s), commit %+v", i, res.Hit, res.Reason, res.Commit)
		}
		if i > 1 && res.Commit.Generation != prev+1 {
			t.Fatalf("run %d: generation %d after %d", i, res.Commit.Generation, prev)
		}
		prev = res.Commit.Generation
	}
	snaps := e.snapshots()
	if len(snaps) != 1 || snaps[0].Generation != prev {
		t.Fatalf("snapshots after %d runs: %+v; want generation %d", n, snaps, prev)
	}
	if imgs := e.images(); len(imgs) != 1 || imgs[0].ID != snaps[0].ImageID {
		t.Errorf("images of the work item after %d runs: %+v; want only %s", n, imgs, snaps[0].ImageID)
	}
	e.noContainers()
}
