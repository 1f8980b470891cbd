package wire_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/wire"
)

// helperDriverEnv, set in the environment of a helper process (this test
// binary run again), gives it the test driver's path.
const helperDriverEnv = "WIRE_TEST_HELPER_DRIVER"

// TestHelperHost is not a test: run as a helper process, it is a host with
// a running driver, which prints the driver's pid and waits to be killed.
func TestHelperHost(t *testing.T) {
	if os.Getenv(helperDriverEnv) == "" {
		t.Skip("helper process only")
	}
	d, err := wire.Open(context.Background(), wire.Config{Path: driverBin, Logger: quiet()})
	require.NoError(t, err)
	fmt.Println(d.Pid())
	select {}
}

// TestKilledHostLeavesNoSockets SIGKILLs a host process that runs a driver
// (so neither it nor go-plugin cleans up): the next host to start a driver
// removes what the dead one left in TMPDIR, and leaves nothing itself once
// its drivers are closed.
func TestKilledHostLeavesNoSockets(t *testing.T) {
	// Short: socket paths are limited to 108 bytes.
	tmp, err := os.MkdirTemp("", "w")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)

	helper := exec.Command(os.Args[0], "-test.run=^TestHelperHost$")
	helper.Env = append(os.Environ(), helperDriverEnv+"="+driverBin)
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	helper.Stderr = os.Stderr
	require.NoError(t, helper.Start())
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("the helper host did not start its driver: %v", err)
	}
	if left := drivertest.PluginLeftovers(t, tmp); len(left) == 0 {
		t.Fatalf("the running driver has no socket directory under %s", tmp)
	}
	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("driver %d outlived its host", pid)
		}
	}
	if left := drivertest.PluginLeftovers(t, tmp); len(left) == 0 {
		t.Fatalf("the killed host left nothing: the test proves nothing")
	}

	d := open(t, wire.Config{})
	require.NoError(t, d.Ping(context.Background()))
	require.NoError(t, d.Close())
	if left := drivertest.PluginLeftovers(t, tmp); len(left) > 0 {
		t.Fatalf("left in TMPDIR: %v", left)
	}
}

// TestRemoveStaleSocketsSparesLiveHosts: a host's socket directory is never
// taken for stale while the host has a driver, even by another process
// sweeping.
func TestRemoveStaleSocketsSparesLiveHosts(t *testing.T) {
	tmp, err := os.MkdirTemp("", "w")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	d := open(t, wire.Config{})
	if n, err := wire.RemoveStaleSockets(); err != nil || n != 0 {
		t.Fatalf("RemoveStaleSockets = %d, %v; want 0 removed", n, err)
	}
	if len(drivertest.PluginLeftovers(t, tmp)) == 0 {
		t.Fatal("the live driver's socket directory is gone")
	}
	require.NoError(t, d.Ping(context.Background()))
}
