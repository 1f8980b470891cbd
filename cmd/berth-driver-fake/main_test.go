package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

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
	if opts, err := options(map[string]string{"state_dir": "/tmp/x", "faults": "commit:1:unavailable"}); err != nil || len(opts) != 2 {
		t.Errorf("options: %d, %v", len(opts), err)
	}
	for _, bad := range []map[string]string{{"nope": "1"}, {"faults": "commit:x:y"}} {
		if _, err := options(bad); err == nil {
			t.Errorf("options(%v): no error", bad)
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.LoadImage(ctx, bytes.NewReader(tarball)); err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.InspectContainer(ctx, c.ID)
	if err != nil || got.State != runtime.StateRunning {
		t.Fatalf("seen from the other process: %+v, %v", got, err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := a.Wait(ctx, c.ID)
		waited <- err
	}()
	if err := b.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Wait in the running process after Remove in the other: %v, want ErrNotFound", err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "x/y:1"}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("Commit with a fault: %v, want ErrUnavailable", err)
	}
	pid := d.Pid()
	st, err := d.Wait(ctx, c.ID)
	if d.Pid() == pid {
		t.Errorf("the driver process %d survived a crash fault (Wait: %+v, %v)", pid, st, err)
	}
	if err != nil {
		// The call that crashed may not have been retried: wait again.
		st, err = d.Wait(ctx, c.ID)
	}
	if err != nil || st.ExitCode != 137 {
		t.Errorf("Wait for the container of the crashed driver: %+v, %v; want exit 137", st, err)
	}
}
