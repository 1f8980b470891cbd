package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/runtime/wire"
)

// driver is this command's binary, built once.
var driver = &drivertest.Binary{Pkg: "."}

func TestMain(m *testing.M) {
	code := m.Run()
	driver.Remove()
	os.Exit(code)
}

func TestOptions(t *testing.T) {
	opts, err := options(map[string]string{"state_dir": "/tmp/x", "faults": "commit:1:unavailable"})
	if assert.NoError(t, err) {
		assert.Len(t, opts, 2, "options of a state dir and faults")
	}
	for _, bad := range []map[string]string{{"nope": "1"}, {"faults": "commit:x:y"}} {
		_, err := options(bad)
		assert.Error(t, err, "options(%v)", bad)
	}
}

// open starts the driver with options and closes it at clean-up.
func open(t *testing.T, opts map[string]string) *wire.Driver {
	t.Helper()
	return drivertest.Open(t, driver.Path(t), opts)
}

func loadBase(t *testing.T, ctx context.Context, rt runtime.Runtime) {
	t.Helper()
	tarball, err := testimage.Tar(testimage.Options{Busybox: []byte("x")})
	require.NoError(t, err)
	_, err = rt.LoadImage(ctx, bytes.NewReader(tarball))
	require.NoError(t, err)
}

// TestSharedStateDir runs two driver processes on one state dir: a
// container one of them runs is seen and removed by the other.
func TestSharedStateDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	a := open(t, map[string]string{"state_dir": dir})
	b := open(t, map[string]string{"state_dir": dir})
	loadBase(t, ctx, a)
	c, err := a.Run(ctx, runtime.ContainerSpec{Image: testimage.DefaultRef, Cmd: []string{"sh", "-c", "echo ready; sleep 30"}})
	require.NoError(t, err)
	got, err := b.InspectContainer(ctx, c.ID)
	require.NoError(t, err, "inspect from the other process")
	require.Equal(t, runtime.StateRunning, got.State, "state seen from the other process")
	waited := make(chan error, 1)
	go func() {
		_, err := a.Wait(ctx, c.ID)
		waited <- err
	}()
	require.NoError(t, b.Remove(ctx, c.ID))
	assert.ErrorIs(t, <-waited, runtime.ErrNotFound, "Wait in the running process after Remove in the other")
}

// TestFaultsOption injects faults from the host: an error class crosses
// the wire, and a crash kills the driver process, whose container then
// counts as killed; the restarted driver does not crash again.
func TestFaultsOption(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := open(t, map[string]string{"state_dir": t.TempDir(), "faults": "commit:1:unavailable,wait:1:crash"})
	loadBase(t, ctx, d)
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: testimage.DefaultRef, Cmd: []string{"sh", "-c", "sleep 30"}})
	require.NoError(t, err)
	_, err = d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "x/y:1"})
	assert.ErrorIs(t, err, runtime.ErrUnavailable, "Commit with a fault")
	pid := d.Pid()
	st, err := d.Wait(ctx, c.ID)
	assert.NotEqual(t, pid, d.Pid(), "the driver process survived a crash fault (Wait: %+v, %v)", st, err)
	if err != nil {
		// The call that crashed may not have been retried: wait again.
		st, err = d.Wait(ctx, c.ID)
	}
	if assert.NoError(t, err, "Wait for the container of the crashed driver") {
		assert.Equal(t, 137, st.ExitCode, "exit code of the container of the crashed driver")
	}
}
