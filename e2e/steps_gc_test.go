package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

// startedTimeout bounds the wait for a job to print "started".
const startedTimeout = 2 * time.Minute

// watcher collects a command's output and tells when a word appears in it.
type watcher struct {
	word string
	seen chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.word) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// running is a berth command started in the background.
type running struct {
	cmd    *exec.Cmd
	stdout *watcher
	stderr *bytes.Buffer
	exited chan error
}

// start starts berth with args and returns once the job has printed
// "started" on stdout.
func (e *env) start(ctx context.Context, args []string, attr *syscall.SysProcAttr) *running {
	e.t.Helper()
	cmd := e.command(ctx, args...)
	cmd.SysProcAttr = attr
	return e.startCommand(cmd)
}

// startCommand starts cmd (berth, or a command that runs berth) and
// returns once the job has printed "started" on stdout.
func (e *env) startCommand(cmd *exec.Cmd) *running {
	e.t.Helper()
	r := &running{
		cmd:    cmd,
		stdout: &watcher{word: "started\n", seen: make(chan struct{})},
		stderr: &bytes.Buffer{},
		exited: make(chan error, 1),
	}
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	select {
	case <-r.stdout.seen:
		return r
	case err := <-r.exited:
		e.t.Fatalf("berth ended before the job started: %v; stdout %q stderr %q", err, r.stdout, r.stderr)
	case <-time.After(startedTimeout):
		r.cmd.Process.Kill()
		<-r.exited
		e.t.Fatalf("the job did not start within %s; stdout %q stderr %q", startedTimeout, r.stdout, r.stderr)
	}
	return nil
}

// wait returns the command's exit code (-1 if a signal ended it).
func (r *running) wait(t *testing.T) int {
	t.Helper()
	err := <-r.exited
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("berth: %v", err)
	}
	return r.cmd.ProcessState.ExitCode()
}

// interrupted: SIGINT or SIGTERM to berth run cancels the job: exit code
// 130, nothing committed, no container left.
func interrupted(t *testing.T, e *env) {
	e.writeConfig("job:\n  stop_grace: 2s\n")
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		args := []string{"run", "--image", e.s.base, "--project", e.project, "--work-item", "item-int",
			"--", "sh", "-c", "echo started; sleep 30"}
		r := e.start(t.Context(), args, nil)
		if err := r.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if code := r.wait(t); code != 130 {
			t.Errorf("berth run after %v: exit code %d, want 130; stderr %q", sig, code, r.stderr)
		}
		e.noContainers()
		if snaps := e.snapshots(); len(snaps) != 0 {
			t.Errorf("snapshots after %v: %+v", sig, snaps)
		}
	}
}

// snapshotsRm: removing a work item's snapshot removes its image from the
// engine, and the next job starts from the base image.
func snapshotsRm(t *testing.T, e *env) {
	const w = "item-rm"
	res := e.mustRun(w, `echo x > /work/x`)
	if out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", w); out.code != 0 {
		t.Fatalf("snapshots rm: %v", out)
	}
	if snaps := e.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots after rm: %+v", snaps)
	}
	if _, err := e.driver().InspectImage(t.Context(), res.Commit.Image); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("image %s after snapshots rm: %v, want ErrNotFound", res.Commit.Image, err)
	}
	if imgs := e.images(); len(imgs) != 0 {
		t.Errorf("images after snapshots rm: %+v", imgs)
	}
	next := e.mustRun(w, `test -f /work/x && exit 8; true`)
	if next.Hit {
		t.Errorf("run after snapshots rm hit %s", next.Image)
	}
	out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", "item-none")
	if out.code != 125 {
		t.Errorf("snapshots rm of nothing: %v, want exit code 125", out)
	}
	oneLine(t, out, "item-none")
}

// sweep runs berth gc --json with extra flags.
func (e *env) sweep(extra ...string) core.SweepReport {
	e.t.Helper()
	out := e.berth(append([]string{"gc", "--json"}, extra...)...)
	if out.code != 0 {
		e.t.Fatalf("gc %v: %v", extra, out)
	}
	var rep core.SweepReport
	if err := json.Unmarshal([]byte(out.stdout), &rep); err != nil {
		e.t.Fatalf("gc --json: %v: %v", err, out)
	}
	return rep
}

// gc: a dry run reports and removes nothing; a sweep evicts snapshots past
// their TTL and removes their images.
func gc(t *testing.T, e *env) {
	const w = "item-gc"
	res := e.mustRun(w, `echo x > /work/x`)
	before := e.images()

	e.writeConfig("snapshots:\n  ttl: 1ms\n")
	rep := e.sweep("--dry-run")
	if !rep.DryRun || len(rep.Evicted) != 1 || rep.Evicted[0].WorkItem != w {
		t.Errorf("gc --dry-run: %+v; want the snapshot of %s reported", rep, w)
	}
	if snaps := e.snapshots(); len(snaps) != 1 {
		t.Errorf("snapshots after a dry run: %+v", snaps)
	}
	if after := e.images(); len(after) != len(before) {
		t.Errorf("images after a dry run: %+v, before: %+v", after, before)
	}
	if _, err := e.driver().InspectImage(t.Context(), res.Commit.Image); err != nil {
		t.Errorf("image %s after a dry run: %v", res.Commit.Image, err)
	}

	rep = e.sweep()
	if rep.DryRun || len(rep.Evicted) != 1 || rep.Evicted[0].WorkItem != w {
		t.Errorf("gc: %+v; want the snapshot of %s evicted", rep, w)
	}
	if snaps := e.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots after gc: %+v", snaps)
	}
	if _, err := e.driver().InspectImage(t.Context(), res.Commit.Image); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("image %s after gc: %v, want ErrNotFound", res.Commit.Image, err)
	}
	if imgs := e.images(); len(imgs) != 0 {
		t.Errorf("images after gc: %+v", imgs)
	}
}

// gcAfterKill: berth killed with SIGKILL mid-job leaves its container; gc
// removes it once past the orphan grace and leaves no managed image. The
// driver berth started must not outlive it (checked when the step ends).
func gcAfterKill(t *testing.T, e *env) {
	args := []string{"run", "--image", e.s.base, "--project", e.project, "--work-item", "item-kill",
		"--", "sh", "-c", "echo started; sleep 30"}
	r := e.start(t.Context(), args, nil)
	if cs := e.containers(); len(cs) != 1 {
		t.Errorf("containers while the job runs: %+v, want one", cs)
	}
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != -1 {
		t.Errorf("berth after SIGKILL: exit code %d", code)
	}

	rep := e.sweep("--orphan-grace", "0s")
	if len(rep.RemovedContainers) != 1 {
		t.Errorf("gc after kill: %+v; want the job's container removed", rep)
	}
	e.noContainers()
	if imgs := e.images(); len(imgs) != 0 {
		t.Errorf("images after gc: %+v", imgs)
	}
	if snaps := e.snapshots(); len(snaps) != 0 {
		t.Errorf("snapshots after a killed run: %+v", snaps)
	}
}
