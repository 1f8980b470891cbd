package e2e

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
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
	if !snap.Commit.Committed {
		t.Fatalf("first run: %+v, want a commit", snap.Commit)
	}

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
		if err != nil {
			t.Fatalf("the user's commit %s: %v", built, err)
		}
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
			img, err := e.driver().InspectImage(t.Context(), ref)
			if err != nil || img.ID != id {
				t.Errorf("after %s: the user's tag %s: %v (ID %s), want image %s", after, ref, err, img.ID, id)
			}
		}
		if builtID != "" {
			if img, err := e.driver().InspectImage(t.Context(), built); err != nil || img.ID != builtID {
				t.Errorf("after %s: the user's image %s: %v (ID %s), want %s", after, built, err, img.ID, builtID)
			}
		}
		if !u.hasContainer(t, ctrName) {
			t.Errorf("after %s: the user's container %s is gone", after, ctrName)
		}
	}

	rep := e.sweep("--orphan-grace", "0s")
	intact("berth gc --orphan-grace 0s")
	for _, id := range rep.RemovedContainers {
		t.Errorf("gc removed container %s; berth made none that is left", id)
	}
	e.mustRun("item-other", `true`)
	intact("a run of another work item")
	warm := e.mustRun(w, `cat /work/one`)
	if !warm.Hit {
		t.Errorf("run of %s: %s, want a hit", w, warm.Reason)
	}
	intact("a run of the same work item")

	// The snapshot berth drops next also carries a user's reference.
	var cur []core.Snapshot
	for _, s := range e.snapshots() {
		if s.WorkItem == w {
			cur = append(cur, s)
		}
	}
	if len(cur) != 1 {
		t.Fatalf("snapshots of %s: %+v, want one", w, cur)
	}
	tag("keep:now-"+r, cur[0].Image, cur[0].ImageID)
	if out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", w); out.code != 0 {
		t.Fatalf("snapshots rm: %v", out)
	}
	intact("snapshots rm")
	if _, err := e.driver().InspectImage(t.Context(), cur[0].Image); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("berth's reference %s after snapshots rm: %v, want ErrNotFound", cur[0].Image, err)
	}
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
	const script = `echo started; sleep 12; echo done`
	args := []string{"--pid", "--fork", "--mount-proc", "--kill-child", filepath.Join(binDir, "berth"),
		"run", "--image", e.s.base, "--project", e.project, "--work-item", w, "--", "sh", "-c", script}
	cmd := exec.CommandContext(t.Context(), "unshare", args...)
	cmd.Env = e.environ()
	cmd.WaitDelay = 10 * time.Second
	job := e.startCommand(cmd)

	if cs := e.containers(); len(cs) != 1 {
		t.Errorf("containers while the job runs: %+v, want one", cs)
	}
	rep := e.sweep("--orphan-grace", "0s")
	if len(rep.RemovedContainers) != 0 {
		t.Errorf("gc removed %v: the container of a live job in another PID namespace", rep.RemovedContainers)
	}
	select {
	case <-job.exited:
		t.Fatalf("the job ended while the gc ran (its container removed, or its sleep too short): stdout %q, stderr %q", job.stdout, job.stderr)
	default:
	}
	if cs := e.containers(); len(cs) != 1 {
		t.Errorf("containers after gc while the job runs: %+v, want its one", cs)
	}
	if code := job.wait(t); code != 0 || !strings.Contains(job.stdout.String(), "done") {
		t.Errorf("the job in another PID namespace: exit code %d, stdout %q, stderr %q; want 0 and done",
			code, job.stdout, job.stderr)
	}
	snaps := e.snapshots()
	if len(snaps) != 1 || snaps[0].WorkItem != w {
		t.Errorf("snapshots after the job: %+v, want its commit", snaps)
	}
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
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != -1 {
		t.Errorf("berth after SIGKILL: exit code %d", code)
	}
	if cs := e.containers(); len(cs) != 1 {
		t.Fatalf("containers after the kill: %+v, want the job's", cs)
	}
	// The deadline counts from before the job printed "started".
	time.Sleep(time.Until(started.Add(timeout + stopGrace + time.Second)))
	rep := e.sweep("--orphan-grace", "1h")
	if len(rep.RemovedContainers) != 1 {
		t.Errorf("gc --orphan-grace 1h past the job's deadline: %+v; want its container removed", rep)
	}
	e.noContainers()
	if snaps := e.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots after a killed run: %+v", snaps)
	}
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
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != -1 {
		t.Errorf("berth after SIGKILL: exit code %d", code)
	}
	if out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", w); out.code != 0 {
		t.Fatalf("snapshots rm: %v", out)
	}
	if _, err := e.driver().InspectImage(t.Context(), snap.Commit.ImageID); err != nil {
		t.Logf("snapshots rm removed the image at once (%v): gc has only the container left", err)
	}
	rep := e.sweep("--orphan-grace", "0s")
	if len(rep.RemovedContainers) != 1 {
		t.Errorf("gc: removed containers %v, want the killed job's", rep.RemovedContainers)
	}
	e.noContainers()
	for _, ref := range []string{snap.Commit.Image, snap.Commit.ImageID} {
		if _, err := e.driver().InspectImage(t.Context(), ref); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("snapshot image %s after one gc: %v, want ErrNotFound (report %+v)", ref, err, rep)
		}
	}
	if imgs := e.images(); len(imgs) != 0 {
		t.Errorf("images after one gc: %+v", imgs)
	}
}
