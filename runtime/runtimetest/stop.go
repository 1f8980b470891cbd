package runtimetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// stopCases check Stop. The jobs sleep 30 seconds, so a stop that does not
// work shows as a wrong exit code, never as a timing assertion.
var stopCases = []testCase{
	{"IgnoresTERM", testStopIgnoresTERM},
	{"HonoursTERM", testStopHonoursTERM},
	{"Kill", testStopKill},
	{"Exited", testStopExited},
	{"CancelledStillKills", testStopCancelled},
}

// testStopIgnoresTERM stops a job that ignores SIGTERM: it must be killed
// (137) once the grace period is over.
func testStopIgnoresTERM(h *harness) {
	c := h.run(h.sh("trap '' TERM; echo ready; sleep 30; echo survived"))
	h.waitOutput(c.ID, "ready")
	start := time.Now()
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: time.Second}), "Stop(%s)", c.ID)
	assert.LessOrEqual(h.t, time.Since(start), 25*time.Second, "time Stop with a 1s grace took")
	assert.Equal(h.t, runtime.StateExited, h.inspect(c.ID).State, "state after Stop returned")
	assert.Equal(h.t, 137, h.wait(c.ID).ExitCode, "exit code of a job ignoring TERM after Stop (137: killed)")
	stdout, _ := h.logs(c.ID)
	assert.Equal(h.t, "ready\n", stdout, "stdout")
}

// testStopHonoursTERM stops a job that lets SIGTERM end it: it must end by
// the signal (143), not be killed after the grace period. On an engine that
// runs the job as PID 1 of a PID namespace, the kernel drops SIGTERM for a
// process without a handler, so the driver must run the job under an init
// that forwards signals (Docker's Init, podman --init, or the like).
func testStopHonoursTERM(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30; echo survived"))
	h.waitOutput(c.ID, "ready")
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: 20 * time.Second}), "Stop(%s)", c.ID)
	assert.Equal(h.t, 143, h.wait(c.ID).ExitCode, "exit code of a job ended by SIGTERM")
	stdout, _ := h.logs(c.ID)
	assert.Equal(h.t, "ready\n", stdout, "stdout")
}

// testStopKill stops with SIGKILL as the first signal.
func testStopKill(h *harness) {
	c := h.run(h.sh("trap '' TERM; echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Signal: "SIGKILL", Grace: 20 * time.Second}), "Stop(%s)", c.ID)
	assert.Equal(h.t, 137, h.wait(c.ID).ExitCode, "exit code after Stop with SIGKILL")
}

// testStopExited checks that Stop of an exited container is a no-op that
// keeps its status.
func testStopExited(h *harness) {
	c := h.run(h.sh("exit 4"))
	h.wait(c.ID)
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: time.Second}), "Stop of an exited container")
	assert.Equal(h.t, 4, h.wait(c.ID).ExitCode, "exit code after Stop of an exited container")
}

// testStopCancelled cancels Stop during a long grace period. The contract:
// cancelling ctx abandons the wait for the grace period, not the kill. So
// Stop returns soon after ctx ends (long before the minute of grace), with
// nil or ctx's error (a driver may return once the kill is done, or at
// once, as a call over the plugin wire does), and the job is killed (137)
// without running on.
func testStopCancelled(h *harness) {
	c := h.run(h.sh("trap '' TERM; echo ready; sleep 30; echo survived"))
	h.waitOutput(c.ID, "ready")
	ctx, cancel := context.WithTimeout(h.ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.rt.Stop(ctx, c.ID, runtime.StopOptions{Grace: time.Minute})
	assert.LessOrEqual(h.t, time.Since(start), 25*time.Second, "time Stop whose ctx ended after 500ms of a 1-minute grace took")
	if err != nil {
		assert.ErrorIs(h.t, err, context.DeadlineExceeded, "Stop whose ctx ended: want nil or an error wrapping context.DeadlineExceeded")
	}
	assert.Equal(h.t, 137, h.wait(c.ID).ExitCode, "exit code after a cancelled Stop (137: killed)")
	stdout, _ := h.logs(c.ID)
	assert.Equal(h.t, "ready\n", stdout, "stdout after a cancelled Stop")
}
