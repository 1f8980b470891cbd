package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// usersObjects (issue 11, item 1): engines copy a snapshot's io.berth
// labels into what a user derives from it. A user's tag of a snapshot, an
// image committed from a container run from a snapshot, and that container
// itself are the user's: no gc and no reconcile (a run of another work
// item, or of the same one) removes them, and when berth drops the
// snapshot the image loses only berth's reference.
func usersObjects(t *testing.T, e *env) {
	const w = "item-user"
	u, r := e.user(), randomID()
	snap := e.mustRun(w, `echo one > /work/one`)
	require.True(t, snap.Commit.Committed, "first run: want a commit, got %+v", snap.Commit)

	// What the user makes, and removes again once the step is over.
	var (
		tagged  = map[string]string{} // the user's references to berth's snapshots, with the image ID each names
		ctrName = "keep-ctr-" + r
		built   = "keep/built:" + r
		builtID string
	)
	t.Cleanup(func() {
		// The container before the images it uses; the committed image
		// before its parent.
		if err := u.removeContainer(ctrName); err != nil {
			t.Logf("clean up the user's container: %v", err)
		}
		if builtID != "" {
			if err := u.removeImage(built); err != nil {
				t.Logf("clean up the user's image: %v", err)
			}
		}
		for ref := range tagged {
			if err := u.removeImage(ref); err != nil {
				t.Logf("clean up the user's tag: %v", err)
			}
		}
	})
	tag := func(ref, src, id string) {
		if u.tag(t, src, ref) {
			tagged[ref] = id
		}
	}
	tag("keep:me-"+r, snap.Commit.Image, snap.Commit.ImageID)
	u.runFrom(t, snap.Commit.Image, ctrName, `echo mine > /user-file`)
	if u.commit(t, ctrName, built) {
		img, err := e.driver().InspectImage(t.Context(), built)
		require.NoError(t, err, "inspect the user's commit %s", built)
		builtID = img.ID
	}
	if len(tagged) == 0 {
		t.Logf("%s: no tag (the runtime has no way to tag an image): only the user's container and commit are checked", e.s.tg.name)
	}
	if builtID == "" {
		t.Logf("%s: no commit command: only the user's tag and container are checked", e.s.tg.name)
	}

	intact := func(after string) {
		t.Helper()
		for ref, id := range tagged {
			assert.Equal(t, id, idOf(e.driver().InspectImage(t.Context(), ref)), "after %s: the image of the user's tag %s", after, ref)
		}
		if builtID != "" {
			assert.Equal(t, builtID, idOf(e.driver().InspectImage(t.Context(), built)), "after %s: the ID of the user's image %s", after, built)
		}
		assert.True(t, u.hasContainer(t, ctrName), "after %s: want the user's container %s there, got it gone", after, ctrName)
	}

	rep := e.sweep("--orphan-grace", "0s")
	intact("berth gc --orphan-grace 0s")
	assert.Empty(t, rep.RemovedContainers, "containers gc removed: berth made none that is left")
	e.mustRun("item-other", `true`)
	intact("a run of another work item")
	warm := e.mustRun(w, `cat /work/one`)
	assert.True(t, warm.Hit, "run of %s: want a hit, got %s", w, warm.Reason)
	intact("a run of the same work item")

	// The snapshot berth drops next also carries a user's reference.
	var cur []core.Snapshot
	for _, s := range e.snapshots() {
		if s.WorkItem == w {
			cur = append(cur, s)
		}
	}
	require.Len(t, cur, 1, "snapshots of %s", w)
	tag("keep:now-"+r, cur[0].Image, cur[0].ImageID)
	out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", w)
	require.Equal(t, 0, out.code, "exit code of snapshots rm: %v", out)
	intact("snapshots rm")
	_, err := e.driver().InspectImage(t.Context(), cur[0].Image)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "berth's reference %s after snapshots rm", cur[0].Image)
	// Images berth no longer knows that carry its labels and the user's
	// references: still the user's.
	e.sweep("--orphan-grace", "0s")
	intact("a gc after snapshots rm")
	e.mustRun(w, `true`)
	intact("a run of the work item after snapshots rm")
}

// otherPIDNamespace (issue 11, item 2): a berth in another PID namespace
// (a CI container sharing the state directory and the engine) is alive
// although its PID means nothing here: gc leaves its job alone, and the
// job ends normally.
func otherPIDNamespace(t *testing.T, e *env) {
	_, err := exec.LookPath("unshare")
	drivertest.Require(t, "no unshare (util-linux): cannot run berth in another PID namespace", err)
	const w = "item-pidns"
	// Long enough for a gc to be judged while the job runs; the step
	// fails if the job ended first.
	const script = `echo started; sleep 12; echo done; echo done > /work/done`
	args := []string{"--pid", "--fork", "--mount-proc", "--kill-child", filepath.Join(binDir, "berth"),
		"run", "--image", e.s.base, "--project", e.project, "--work-item", w, "--", "sh", "-c", script}
	cmd := exec.CommandContext(t.Context(), "unshare", args...)
	cmd.Env = e.environ()
	cmd.WaitDelay = 10 * time.Second
	job := e.startCommand(cmd)

	assert.Len(t, e.containers(), 1, "containers while the job runs")
	rep := e.sweep("--orphan-grace", "0s")
	assert.Empty(t, rep.RemovedContainers, "containers gc removed: the job's, alive in another PID namespace, must stay")
	select {
	case err := <-job.exited:
		require.Failf(t, "the job ended while the gc ran", "want it still running (its container removed, or its sleep too short?), got its end (%v): stdout %q, stderr %q",
			err, job.stdout, job.stderr)
	default:
	}
	assert.Len(t, e.containers(), 1, "containers after gc while the job runs: want its one")
	code := job.wait(t)
	assert.True(t, code == 0 && strings.Contains(job.stdout.String(), "done"),
		"the job in another PID namespace: want exit code 0 and done, got exit code %d, stdout %q, stderr %q", code, job.stdout, job.stderr)
	snaps := e.snapshots()
	assert.Equal(t, []string{w}, workItems(snaps), "work items of the snapshots after the job: want its commit; %+v", snaps)
	e.noContainers()
}

// deadlineAfterKill (issue 11, item 3): berth killed with SIGKILL cannot
// enforce --timeout; once the job's deadline plus the stop grace has
// passed, one gc stops and removes its container at once, whatever the
// orphan grace.
func deadlineAfterKill(t *testing.T, e *env) {
	const timeout, stopGrace = 2 * time.Second, time.Second
	e.writeConfig("job:\n  stop_grace: " + stopGrace.String() + "\n")
	args := []string{"run", "--image", e.s.base, "--project", e.project, "--work-item", "item-deadline",
		"--timeout", timeout.String(), "--", "sh", "-c", "echo started; sleep 300"}
	r := e.start(t.Context(), args, nil)
	started := time.Now()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL), "kill berth")
	assert.Equal(t, -1, r.wait(t), "exit code of berth after SIGKILL (-1: a signal)")
	require.Len(t, e.containers(), 1, "containers after the kill: want the job's")
	// The deadline counts from before the job printed "started".
	time.Sleep(time.Until(started.Add(timeout + stopGrace + time.Second)))
	rep := e.sweep("--orphan-grace", "1h")
	assert.Len(t, rep.RemovedContainers, 1, "containers gc --orphan-grace 1h removed past the job's deadline: want its own; report %+v", rep)
	e.noContainers()
	assert.Empty(t, e.snapshots(), "snapshots after a killed run")
}

// oneGC (issue 11, item 4): a job killed while it runs from a snapshot
// leaves a container that holds the snapshot's image; once the snapshot is
// dropped, one gc removes both the container and the image.
func oneGC(t *testing.T, e *env) {
	const w = "item-held"
	snap := e.mustRun(w, `echo x > /work/x`)
	args := []string{"run", "--image", e.s.base, "--project", e.project, "--work-item", w,
		"--", "sh", "-c", `test "$BERTH_SNAPSHOT" = 1 || exit 9; echo started; sleep 300`}
	r := e.start(t.Context(), args, nil)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL), "kill berth")
	assert.Equal(t, -1, r.wait(t), "exit code of berth after SIGKILL (-1: a signal)")
	out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", w)
	require.Equal(t, 0, out.code, "exit code of snapshots rm: %v", out)
	if _, err := e.driver().InspectImage(t.Context(), snap.Commit.ImageID); err != nil {
		t.Logf("snapshots rm removed the image at once (%v): gc has only the container left", err)
	}
	rep := e.sweep("--orphan-grace", "0s")
	assert.Len(t, rep.RemovedContainers, 1, "containers gc removed: want the killed job's")
	e.noContainers()
	for _, ref := range []string{snap.Commit.Image, snap.Commit.ImageID} {
		_, err := e.driver().InspectImage(t.Context(), ref)
		assert.ErrorIs(t, err, runtime.ErrNotFound, "snapshot image %s after one gc (report %+v)", ref, rep)
	}
	assert.Empty(t, e.images(), "images after one gc")
}
