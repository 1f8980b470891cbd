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
	_, err = fmt.Fscan(out, &pid)
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
	}
	require.NoError(t, err, "the helper host did not start its driver")
	require.NotEmpty(t, drivertest.PluginLeftovers(t, tmp), "the running driver's socket directory under %s", tmp)
	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 10*time.Millisecond,
		"driver %d outlived its host", pid)
	require.NotEmpty(t, drivertest.PluginLeftovers(t, tmp), "what the killed host left (nothing: the test proves nothing)")

	d := open(t, wire.Config{})
	require.NoError(t, d.Ping(context.Background()))
	require.NoError(t, d.Close())
	require.Empty(t, drivertest.PluginLeftovers(t, tmp), "left in TMPDIR")
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
	n, err := wire.RemoveStaleSockets()
	require.NoError(t, err)
	require.Zero(t, n, "RemoveStaleSockets: directories removed")
	require.NotEmpty(t, drivertest.PluginLeftovers(t, tmp), "the live driver's socket directory")
	require.NoError(t, d.Ping(context.Background()))
}
