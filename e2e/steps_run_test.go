package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// coldAndWarm: the first run of a work item starts from the base image
// and is committed; the next ones start from the snapshot and see the
// first run's files.
func coldAndWarm(t *testing.T, e *env) {
	const w = "item-1"
	cold, out := e.run(w, nil, `test -f /work/seen && exit 7; echo cold > /work/seen; echo "snapshot=$BERTH_SNAPSHOT"`)
	require.Equal(t, exits{0, 0}, exits{out.code, cold.ExitCode}, "cold run: %v", out)
	require.True(t, !cold.Hit && cold.Commit.Committed && cold.Commit.Image != "",
		"cold run: want a miss that is committed to an image, got hit %v (%s), commit %+v", cold.Hit, cold.Reason, cold.Commit)
	assert.Contains(t, out.stderr, "snapshot=0", "with --json the job's stdout goes to stderr")
	assert.Equal(t, []string{e.project, w, e.s.tg.name}, []string{cold.Project, cold.WorkItem, cold.Runtime},
		"cold run result: project, work item, runtime")

	// Without --json: the job's output on stdout as it is, one summary line
	// on stderr.
	out = e.berth("run", "--image", e.s.base, "--project", e.project, "--work-item", w, "--",
		"sh", "-c", `cat /work/seen; echo "snapshot=$BERTH_SNAPSHOT"; echo to-stderr >&2; echo 2 > /work/runs`)
	require.Equal(t, output{code: 0, stdout: "cold\nsnapshot=1\n"}, output{code: out.code, stdout: out.stdout},
		"warm run: exit code and stdout (stderr %q)", out.stderr)
	job, summary, _ := strings.Cut(out.stderr, "\n")
	assert.Equal(t, "to-stderr", job, "warm run: the job's stderr first on stderr: %q", out.stderr)
	oneLine(t, output{stderr: summary}, "hit", "committed")

	warm := e.mustRun(w, `cat /work/seen; echo 3 > /work/runs`)
	type commit struct {
		Hit, Committed bool
		Generation     int
	}
	assert.Equal(t, commit{true, true, cold.Commit.Generation + 2}, commit{warm.Hit, warm.Commit.Committed, warm.Commit.Generation},
		"warm run: want a hit committed as generation %d; reason %s, commit %+v", cold.Commit.Generation+2, warm.Reason, warm.Commit)

	// A job that changes nothing makes no generation: the snapshot stays,
	// noted as used.
	same := e.mustRun(w, `cat /work/seen /work/runs`)
	assert.Equal(t, commit{true, false, 0}, commit{same.Hit, same.Commit.Committed, same.Commit.Generation},
		"a run that only read: want a hit not committed, got reason %s, commit %+v", same.Reason, same.Commit)
	assert.Equal(t, core.NoCommitUnchanged, same.Commit.Reason, "why a run that only read was not committed")

	snaps := e.snapshots()
	require.Len(t, snaps, 1, "snapshots ls")
	s := snaps[0]
	// The fields that must be set, as true.
	type listed struct {
		Project, WorkItem, Runtime, Image        string
		Generation                               int
		ImageID, Size, Layers, Created, LastUsed bool
	}
	assert.Equal(t, listed{e.project, w, e.s.tg.name, warm.Commit.Image, warm.Commit.Generation, true, true, true, true, true},
		listed{s.Project, s.WorkItem, s.Runtime, s.Image, s.Generation,
			s.ImageID != "", s.Size > 0, s.Layers >= 1, !s.Created.IsZero(), !s.LastUsed.IsZero()},
		"snapshots ls --json: %+v", s)
	assert.Equal(t, s.ImageID, idOf(e.driver().InspectImage(t.Context(), s.Image)), "ID of the engine's image %s", s.Image)
	e.noContainers()
}

// failingRun: a job that exits non-zero gives its exit code and commits
// nothing; the next job starts from the last good snapshot.
func failingRun(t *testing.T, e *env) {
	const w = "item-fail"
	good := e.mustRun(w, `echo one > /work/kept`)
	res, out := e.run(w, nil, `echo bad > /work/bad; exit 3`)
	require.Equal(t, exits{3, 3}, exits{out.code, res.ExitCode}, "failing run: %v", out)
	assert.True(t, !res.Commit.Committed && res.Commit.Reason != "", "failing run: want no commit, and why, got %+v", res.Commit)
	snaps := e.snapshots()
	assert.Equal(t, []int{good.Commit.Generation}, generationsOf(snaps), "generations of the snapshots after a failing run: %+v", snaps)
	next := e.mustRun(w, `test -f /work/kept || exit 9; test -f /work/bad && exit 8; true`)
	assert.True(t, next.Hit, "run after a failure: want a hit, got %s", next.Reason)

	// A failing first run leaves no snapshot at all.
	res, out = e.run("item-fail-first", nil, `exit 3`)
	assert.True(t, out.code == 3 && !res.Commit.Committed, "failing first run: want exit code 3 and no commit, got commit %+v: %v", res.Commit, out)
	snaps = e.snapshots()
	assert.NotContains(t, workItems(snaps), "item-fail-first", "work items of the snapshots: a failed run's is not there: %+v", snaps)
	e.noContainers()
}

// timedOut: a job past its --timeout is stopped: exit code 124, nothing
// committed, no container left.
func timedOut(t *testing.T, e *env) {
	e.writeConfig("job:\n  stop_grace: 2s\n")
	res, out := e.run("item-timeout", []string{"--timeout", "1s"}, `sleep 30`)
	require.True(t, out.code == 124 && res.TimedOut, "timed-out run: want exit code 124 and timed_out, got timed_out %v: %v", res.TimedOut, out)
	assert.False(t, res.Commit.Committed, "timed-out run committed: %+v", res.Commit)
	assert.Empty(t, e.snapshots(), "snapshots after a timeout")
	e.noContainers()
}

// generations: one work item run many times in a row; every run succeeds
// and, after the first, starts from the previous run's snapshot.
func generations(t *testing.T, e *env) {
	n := 200
	if v := os.Getenv("BERTH_E2E_GENERATIONS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.True(t, err == nil && n >= 2, "BERTH_E2E_GENERATIONS=%q: want a number >= 2", v)
	}
	const w = "item-gen"
	prev := 0
	for i := 1; i <= n; i++ {
		script := "touch /work/g1"
		if i > 1 {
			script = fmt.Sprintf("test -f /work/g%d || exit 9; touch /work/g%d", i-1, i)
		}
		res, out := e.run(w, nil, script)
		require.Equal(t, 0, out.code, "exit code of run %d: %v", i, out)
		require.True(t, res.Hit == (i > 1) && res.Commit.Committed,
			"run %d: want a hit (but for the first run) that is committed, got hit %v (%s), commit %+v", i, res.Hit, res.Reason, res.Commit)
		if i > 1 {
			require.Equal(t, prev+1, res.Commit.Generation, "generation of run %d, after %d", i, prev)
		}
		prev = res.Commit.Generation
	}
	snaps := e.snapshots()
	require.Equal(t, []int{prev}, generationsOf(snaps), "generations of the snapshots after %d runs: %+v", n, snaps)
	imgs := e.images()
	assert.Equal(t, []string{snaps[0].ImageID}, imageIDs(imgs), "IDs of the work item's images after %d runs: %+v", n, imgs)
	e.noContainers()
}
