package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// daemon is a berth serve process of a step, on the step's state
// directory, with a client over its socket.
type daemon struct {
	e    *env
	cmd  *exec.Cmd
	c    *client.Client
	done chan struct{}
	out  strings.Builder
	mu   sync.Mutex
}

// serve starts berth serve with args and waits until it is ready.
func (e *env) serve(args ...string) *daemon {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "berth"), append([]string{"serve"}, args...)...)
	cmd.Env = e.environ()
	d := &daemon{e: e, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d, d
	require.NoError(e.t, cmd.Start(), "start berth serve")
	go func() {
		cmd.Wait()
		close(d.done)
	}()
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
	})
	c, err := client.New("unix://" + filepath.Join(e.stateDir, "berth.sock"))
	require.NoError(e.t, err)
	e.t.Cleanup(c.Close)
	d.c = c
	require.Eventually(e.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return c.Ready(ctx) == nil
	}, time.Minute, 20*time.Millisecond, "berth serve ready (output %q)", d.output())
	return d
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.Write(p)
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// stop signals the daemon and waits for it; it returns its exit code.
func (d *daemon) stop(sig os.Signal) int {
	d.e.t.Helper()
	require.NoError(d.e.t, d.cmd.Process.Signal(sig))
	select {
	case <-d.done:
	case <-time.After(3 * time.Minute):
		require.FailNow(d.e.t, "berth serve did not stop", "after %v; output %q", sig, d.output())
	}
	return d.cmd.ProcessState.ExitCode()
}

// create makes a job of work item w running script.
func (d *daemon) create(w, script string) *client.Job {
	d.e.t.Helper()
	req := api.CreateJobRequest{Cmd: []string{"sh", "-c", script}, Image: &d.e.s.base, Project: &d.e.project, WorkItem: &w}
	j, err := d.c.CreateJob(context.Background(), req, "")
	require.NoError(d.e.t, err, "create job")
	return j
}

// running waits until job id runs.
func (d *daemon) running(id string) {
	d.e.t.Helper()
	require.Eventually(d.e.t, func() bool {
		j, err := d.c.GetJob(context.Background(), id)
		return err == nil && j.State == api.JobStateRunning
	}, 2*time.Minute, 20*time.Millisecond, "job %s running", id)
}

// wait waits for job id's end and returns its result.
func (d *daemon) wait(id string) (*client.Job, core.Result) {
	d.e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	j, err := d.c.WaitJob(ctx, id, time.Minute)
	require.NoError(d.e.t, err, "wait for job %s", id)
	res, ok := j.Result()
	require.True(d.e.t, ok, "job %s ended: state %s", id, j.State)
	return j, res
}

// logs reads job id's standard output.
func (d *daemon) logs(id string) string {
	d.e.t.Helper()
	var out strings.Builder
	err := d.c.Logs(context.Background(), id, true, func(s core.Stream, data []byte) error {
		if s == core.Stdout {
			out.Write(data)
		}
		return nil
	})
	require.NoError(d.e.t, err, "logs of job %s", id)
	return out.String()
}

// daemonKilled: berth serve killed with kill -9 while a job runs. On an
// engine the container runs on: the next daemon takes the job over, keeps
// its output, and commits it once. On the fake the container runs in the
// driver process, which dies with the daemon: the exit (137) is recorded
// and nothing committed. Either way nothing is left.
func daemonKilled(t *testing.T, e *env) {
	d := e.serve()
	j := d.create("w", "echo a; sleep 3; touch /made; echo b")
	d.running(j.Id)
	require.NoError(t, d.cmd.Process.Kill())
	<-d.done

	d = e.serve()
	got, res := d.wait(j.Id)
	require.NotNil(t, got.Reattached, "the job was taken over")
	assert.Equal(t, 1, *got.Reattached, "times the job was taken over")
	if e.s.tg.module == "" {
		assert.Equal(t, 137, res.ExitCode, "the fake's container died with its driver")
		assert.Equal(t, core.NoCommitExitCode, res.Commit.Reason)
		assert.Equal(t, "a\n", d.logs(j.Id), "the output written before the kill")
	} else {
		assert.Equal(t, 0, res.ExitCode, "the job ran on while no daemon watched: %+v", res)
		require.True(t, res.Commit.Committed, "the job taken over is committed: %+v", res.Commit)
		assert.Equal(t, 1, res.Commit.Generation)
		assert.Equal(t, "a\nb\n", d.logs(j.Id), "the whole output, once")
		next := d.create("w", "test -f /made")
		_, res2 := d.wait(next.Id)
		assert.True(t, res2.Hit, "the next job of the work item starts from the snapshot: %+v", res2)
		assert.Equal(t, 0, res2.ExitCode, "the snapshot holds the job's file")
	}
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "berth serve's exit code (output %q)", d.output())
	e.noContainers()
}

// daemonStops: SIGTERM drains a running job (it ends and is committed
// before the daemon exits 0); with --on-stop leave the daemon exits at once
// and the next one takes the job over.
func daemonStops(t *testing.T, e *env) {
	d := e.serve("--drain-timeout", "2m")
	j := d.create("w", "sleep 1; echo drained; echo drained > /work/drained")
	d.running(j.Id)
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "berth serve's exit code (output %q)", d.output())

	d = e.serve("--on-stop", "leave")
	got, err := d.c.GetJob(context.Background(), j.Id)
	require.NoError(t, err)
	require.True(t, got.Ended(), "the drained job ended before the daemon: state %s", got.State)
	res, _ := got.Result()
	assert.Equal(t, 0, res.ExitCode)
	assert.True(t, res.Commit.Committed, "the drained job was committed: %+v", res.Commit)

	left := d.create("w", "sleep 3; echo left; echo left > /work/left")
	d.running(left.Id)
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "berth serve's exit code (output %q)", d.output())
	d = e.serve()
	_, res = d.wait(left.Id)
	if e.s.tg.module == "" {
		assert.Equal(t, 137, res.ExitCode, "the fake's container died with its driver")
	} else {
		assert.Equal(t, 0, res.ExitCode, "the job left running: %+v", res)
		assert.True(t, res.Hit, "the job ran on the drained job's snapshot")
		assert.True(t, res.Commit.Committed, "the job left running is committed by the next daemon: %+v", res.Commit)
		assert.Equal(t, "left\n", d.logs(left.Id))
	}
	assert.Equal(t, 0, d.stop(syscall.SIGTERM))
	e.noContainers()
}
