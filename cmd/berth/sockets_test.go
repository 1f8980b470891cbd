package main

import (
	"testing"

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
	if len(drivertest.PluginLeftovers(t, tmp)) == 0 {
		t.Fatalf("the driver has no socket directory under TMPDIR %s", tmp)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	gone(t, driver)
	if len(drivertest.PluginLeftovers(t, tmp)) == 0 {
		t.Fatal("the killed berth left nothing behind: the test proves nothing")
	}

	next, stderr := f.start("run", "--image", "base:latest", "--", "true")
	if err := next.Wait(); err != nil {
		t.Fatalf("the next run: %v: %s", err, stderr)
	}
	if left := drivertest.PluginLeftovers(t, tmp); len(left) > 0 {
		t.Fatalf("left in TMPDIR after the next command: %v", left)
	}
}
