package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/api/apitest"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// daemon is berth serve running as a process of its own on the fake.
type daemon struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	driver int // the driver process's pid
	c      *client.Client
}

// serve starts berth serve with args and waits until it is ready.
func (f *fake) serve(args ...string) *daemon {
	f.t.Helper()
	cmd, stderr := f.start(append([]string{"serve"}, args...)...)
	d := &daemon{cmd: cmd, stderr: stderr}
	var err error
	d.c, err = client.New("unix://"+filepath.Join(f.state, "berth.sock"),
		client.WithTransport(apitest.New(f.t).Transport(f.t)))
	require.NoError(f.t, err)
	f.t.Cleanup(d.c.Close)
	require.Eventually(f.t, func() bool { return d.c.Ready(context.Background()) == nil }, time.Minute,
		10*time.Millisecond, "berth serve never got ready; its stderr: %s", stderr)
	d.driver = waitDriver(f.t, cmd.Process.Pid, stderr)
	return d
}

// stop sends SIGTERM and waits for the daemon's end: exit 0, its driver
// gone, its socket removed.
func (d *daemon) stop(f *fake) {
	f.t.Helper()
	require.NoError(f.t, d.cmd.Process.Signal(syscall.SIGTERM))
	err := d.cmd.Wait()
	require.NoError(f.t, err, "berth serve's exit; its stderr: %s", d.stderr)
	gone(f.t, d.driver)
	_, err = os.Stat(filepath.Join(f.state, "berth.sock"))
	assert.ErrorIs(f.t, err, os.ErrNotExist, "the socket is removed")
}

// running waits until job id runs.
func (d *daemon) running(t *testing.T, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		j, err := d.c.GetJob(context.Background(), id)
		return err == nil && j.State == api.JobStateRunning
	}, time.Minute, 10*time.Millisecond, "job %s never ran", id)
}

func sh(script string) api.CreateJobRequest {
	image := "base:latest"
	return api.CreateJobRequest{Image: &image, Cmd: []string{"sh", "-c", script}}
}

// recorded reads job id's record from the state directory, with no daemon
// running.
func (f *fake) recorded(id string) core.JobRecord {
	f.t.Helper()
	c, err := core.Open(context.Background(), core.Config{StateDir: f.state, Runtimes: core.RuntimeList{}})
	require.NoError(f.t, err)
	defer c.Close()
	rec, err := c.GetJob(context.Background(), id)
	require.NoError(f.t, err)
	return rec
}

func TestServeRunsJobsAndDrainsOnSIGTERM(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	ctx := context.Background()
	req := sh("echo hi; echo made > /work/f")
	wi := "w1"
	req.WorkItem = &wi
	j, err := d.c.CreateJob(ctx, req, "")
	require.NoError(t, err)
	done, err := d.c.WaitJob(ctx, j.Id, time.Minute)
	require.NoError(t, err)
	res, ok := done.Result()
	require.True(t, ok)
	assert.Equal(t, 0, res.ExitCode)
	assert.True(t, res.Commit.Committed, "committed on success")
	var out bytes.Buffer
	require.NoError(t, d.c.Logs(ctx, j.Id, false, func(_ core.Stream, b []byte) error { out.Write(b); return nil }))
	assert.Equal(t, "hi\n", out.String())
	snaps, err := d.c.Snapshots(ctx, "")
	require.NoError(t, err)
	assert.Len(t, snaps, 1)
	rts, err := d.c.Runtimes(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, rts)
	assert.Equal(t, "fake", rts[0].Name)
	assert.True(t, rts[0].Healthy, "the fake's health: %s", rts[0].Health)

	// A job still running when SIGTERM comes is drained: it ends before
	// the daemon does.
	slow, err := d.c.CreateJob(ctx, sh("sleep 0.3; echo done"), "")
	require.NoError(t, err)
	d.running(t, slow.Id)
	d.stop(f)
	assert.Contains(t, d.stderr.String(), "waiting up to 30s")
	rec := f.recorded(slow.Id)
	assert.Equal(t, core.JobExited, rec.State, "the drained job ran to its end")
	require.NotNil(t, rec.Result)
	assert.Equal(t, 0, rec.Result.ExitCode)
}

// With --on-stop leave the daemon stops at once and the next one takes
// the job over: a client's wait works against it.
func TestServeLeavesJobsToTheNextStart(t *testing.T) {
	f := newFake(t, "")
	d := f.serve("--on-stop", "leave")
	ctx := context.Background()
	j, err := d.c.CreateJob(ctx, sh("sleep 3600"), "")
	require.NoError(t, err)
	d.running(t, j.Id)
	d.stop(f)
	assert.Contains(t, d.stderr.String(), "leaving the running jobs")
	assert.Equal(t, core.JobRunning, f.recorded(j.Id).State, "a job left running")

	next := f.serve()
	got, err := next.c.GetJob(ctx, j.Id)
	require.NoError(t, err)
	if !got.Ended() {
		_, err = next.c.CancelJob(ctx, j.Id)
		require.NoError(t, err)
	}
	end, err := next.c.WaitJob(ctx, j.Id, time.Minute)
	require.NoError(t, err, "waiting on the next daemon")
	assert.True(t, end.Ended())
	assert.Contains(t, next.stderr.String(), "taken over from the previous daemon: 1 ("+j.Id+")")
	next.stop(f)
}

func TestServeRefusesInsecureAddresses(t *testing.T) {
	f := newFake(t, "")
	for _, args := range [][]string{
		{"serve", "--listen", "tcp://127.0.0.1:0"},
		{"serve", "--listen", "tcp://0.0.0.0:0"},
	} {
		t.Setenv("BERTH_TOKEN", "")
		if args[2] == "tcp://0.0.0.0:0" {
			t.Setenv("BERTH_TOKEN", "tok")
		}
		code, _, stderr := f.berth(args...)
		assert.Equal(t, exitFailed, code, "%v", args)
		assert.Contains(t, stderr, server.ErrInsecureListen.Error(), "%v", args)
	}
	code, _, stderr := f.berth("serve", "--on-stop", "later")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stderr, "--on-stop")
	code, _, stderr = f.berth("serve", "--tls-cert", "c.pem")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stderr, "--tls-key")
}

// A second daemon on the same socket is refused, and the first one goes on.
func TestServeTwiceOnOneSocket(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	code, _, stderr := f.berth("serve")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, stderr, server.ErrAddrInUse.Error())
	require.NoError(t, d.c.Health(context.Background()), "the first daemon still serves")
	d.stop(f)
}
