package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(e.t, r.cmd.Start(), "start %s", r.cmd)
	go func() { r.exited <- r.cmd.Wait() }()
	select {
	case <-r.stdout.seen:
		return r
	case err := <-r.exited:
		require.Failf(e.t, "berth ended before the job started", "want the job's \"started\" on stdout first, got the end of berth (%v); stdout %q stderr %q",
			err, r.stdout, r.stderr)
	case <-time.After(startedTimeout):
		r.cmd.Process.Kill()
		<-r.exited
		require.Failf(e.t, "the job did not start in time", "want the job's \"started\" on stdout within %s; stdout %q stderr %q",
			startedTimeout, r.stdout, r.stderr)
	}
	return nil
}

// wait returns the command's exit code (-1 if a signal ended it).
func (r *running) wait(t *testing.T) int {
	t.Helper()
	err := <-r.exited
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "berth: want it run and waited for (an exit code, or a signal), got another error")
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
		require.NoError(t, r.cmd.Process.Signal(sig), "send %v to berth", sig)
		assert.Equal(t, 130, r.wait(t), "exit code of berth run after %v; stderr %q", sig, r.stderr)
		e.noContainers()
		assert.Empty(t, e.snapshots(), "snapshots after %v", sig)
	}
}

// snapshotsRm: removing a work item's snapshot removes its image from the
// engine, and the next job starts from the base image.
func snapshotsRm(t *testing.T, e *env) {
	const w = "item-rm"
	res := e.mustRun(w, `echo x > /work/x`)
	out := e.berth("snapshots", "rm", "--project", e.project, "--work-item", w)
	require.Equal(t, 0, out.code, "exit code of snapshots rm: %v", out)
	assert.Empty(t, e.snapshots(), "snapshots after rm")
	_, err := e.driver().InspectImage(t.Context(), res.Commit.Image)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "image %s after snapshots rm", res.Commit.Image)
	assert.Empty(t, e.images(), "images after snapshots rm")
	next := e.mustRun(w, `test -f /work/x && exit 8; true`)
	assert.False(t, next.Hit, "run after snapshots rm: want a miss, got a hit on %s", next.Image)
	out = e.berth("snapshots", "rm", "--project", e.project, "--work-item", "item-none")
	assert.Equal(t, 125, out.code, "exit code of snapshots rm of nothing: %v", out)
	oneLine(t, out, "item-none")
}

// sweep runs berth gc --json with extra flags.
func (e *env) sweep(extra ...string) core.SweepReport {
	e.t.Helper()
	out := e.berth(append([]string{"gc", "--json"}, extra...)...)
	require.Equal(e.t, 0, out.code, "exit code of gc %v: %v", extra, out)
	var rep core.SweepReport
	require.NoError(e.t, json.Unmarshal([]byte(out.stdout), &rep), "gc --json: want a report on stdout: %v", out)
	return rep
}

// gc: a dry run reports and removes nothing; a sweep evicts snapshots past
// their TTL and removes their images.
func gc(t *testing.T, e *env) {
	const w = "item-gc"
	res := e.mustRun(w, `echo x > /work/x`)
	before := e.images()

	e.writeConfig("snapshots:\n  ttl: 1ms\n")
	// What a report says of the snapshots: a dry run or not, the work
	// items of those evicted.
	type swept struct {
		DryRun  bool
		Evicted []string
	}
	rep := e.sweep("--dry-run")
	assert.Equal(t, swept{true, []string{w}}, swept{rep.DryRun, workItems(rep.Evicted)},
		"gc --dry-run: want the snapshot of %s reported; report %+v", w, rep)
	assert.Len(t, e.snapshots(), 1, "snapshots after a dry run")
	assert.Len(t, e.images(), len(before), "images after a dry run; before it: %+v", before)
	_, err := e.driver().InspectImage(t.Context(), res.Commit.Image)
	assert.NoError(t, err, "image %s after a dry run", res.Commit.Image)

	rep = e.sweep()
	assert.Equal(t, swept{false, []string{w}}, swept{rep.DryRun, workItems(rep.Evicted)},
		"gc: want the snapshot of %s evicted; report %+v", w, rep)
	assert.Empty(t, e.snapshots(), "snapshots after gc")
	_, err = e.driver().InspectImage(t.Context(), res.Commit.Image)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "image %s after gc", res.Commit.Image)
	assert.Empty(t, e.images(), "images after gc")
}

// gcAfterKill: berth killed with SIGKILL mid-job leaves its container; gc
// removes it once past the orphan grace and leaves no managed image. The
// driver berth started must not outlive it (checked when the step ends).
func gcAfterKill(t *testing.T, e *env) {
	args := []string{"run", "--image", e.s.base, "--project", e.project, "--work-item", "item-kill",
		"--", "sh", "-c", "echo started; sleep 30"}
	r := e.start(t.Context(), args, nil)
	assert.Len(t, e.containers(), 1, "containers while the job runs")
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL), "kill berth")
	assert.Equal(t, -1, r.wait(t), "exit code of berth after SIGKILL (-1: a signal)")

	rep := e.sweep("--orphan-grace", "0s")
	assert.Len(t, rep.RemovedContainers, 1, "containers gc after kill removed: want the job's; report %+v", rep)
	e.noContainers()
	assert.Empty(t, e.images(), "images after gc")
	assert.Empty(t, e.snapshots(), "snapshots after a killed run")
}
