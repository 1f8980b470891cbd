package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// TestKilledRunLeavesNoPluginDirs SIGKILLs a berth run while its driver
// runs, so that neither berth nor go-plugin cleans up; the next berth
// command that launches a driver removes what it left in TMPDIR (the wire
// sweeps stale socket directories when a process takes its own).
func TestKilledRunLeavesNoPluginDirs(t *testing.T) {
	tmp := shortTempDir(t)
	t.Setenv("TMPDIR", tmp)
	f := newFake(t, "")
	cmd, stderr := f.start("run", "--image", "base:latest", "--", "sleep", "60")
	driver := waitDriver(t, cmd.Process.Pid, stderr)
	require.NotEmpty(t, drivertest.PluginLeftovers(t, tmp), "the driver's socket directory under TMPDIR %s", tmp)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	gone(t, driver)
	require.NotEmpty(t, drivertest.PluginLeftovers(t, tmp), "what the killed berth left behind (nothing: the test proves nothing)")

	next, stderr := f.start("run", "--image", "base:latest", "--", "true")
	require.NoError(t, next.Wait(), "the next run; stderr: %s", stderr)
	require.Empty(t, drivertest.PluginLeftovers(t, tmp), "left in TMPDIR after the next command")
}
