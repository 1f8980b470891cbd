package runtimetest

import (
	"context"
	"errors"
	"time"

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
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: time.Second}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 25*time.Second {
		h.t.Errorf("Stop with a 1s grace took %v", d)
	}
	if got := h.inspect(c.ID).State; got != runtime.StateExited {
		h.t.Errorf("state after Stop returned = %q, want %q", got, runtime.StateExited)
	}
	if st := h.wait(c.ID); st.ExitCode != 137 {
		h.t.Errorf("exit code of a job ignoring TERM after Stop = %d, want 137 (killed)", st.ExitCode)
	}
	if stdout, _ := h.logs(c.ID); stdout != "ready\n" {
		h.t.Errorf("stdout = %q, want %q", stdout, "ready\n")
	}
}

// testStopHonoursTERM stops a job that lets SIGTERM end it: it must end by
// the signal (143), not be killed after the grace period. On an engine that
// runs the job as PID 1 of a PID namespace, the kernel drops SIGTERM for a
// process without a handler, so the driver must run the job under an init
// that forwards signals (Docker's Init, podman --init, or the like).
func testStopHonoursTERM(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30; echo survived"))
	h.waitOutput(c.ID, "ready")
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: 20 * time.Second}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	if st := h.wait(c.ID); st.ExitCode != 143 {
		h.t.Errorf("exit code of a job ended by SIGTERM = %d, want 143", st.ExitCode)
	}
	if stdout, _ := h.logs(c.ID); stdout != "ready\n" {
		h.t.Errorf("stdout = %q, want %q", stdout, "ready\n")
	}
}

// testStopKill stops with SIGKILL as the first signal.
func testStopKill(h *harness) {
	c := h.run(h.sh("trap '' TERM; echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Signal: "SIGKILL", Grace: 20 * time.Second}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	if st := h.wait(c.ID); st.ExitCode != 137 {
		h.t.Errorf("exit code after Stop with SIGKILL = %d, want 137", st.ExitCode)
	}
}

// testStopExited checks that Stop of an exited container is a no-op that
// keeps its status.
func testStopExited(h *harness) {
	c := h.run(h.sh("exit 4"))
	h.wait(c.ID)
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: time.Second}); err != nil {
		h.t.Fatalf("Stop of an exited container: %v", err)
	}
	if st := h.wait(c.ID); st.ExitCode != 4 {
		h.t.Errorf("exit code after Stop of an exited container = %d, want 4", st.ExitCode)
	}
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
	if d := time.Since(start); d > 25*time.Second {
		h.t.Errorf("Stop whose ctx ended after 500ms of a 1-minute grace returned after %v", d)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		h.t.Errorf("Stop whose ctx ended: %v, want nil or an error wrapping context.DeadlineExceeded", err)
	}
	if st := h.wait(c.ID); st.ExitCode != 137 {
		h.t.Errorf("exit code after a cancelled Stop = %d, want 137 (killed)", st.ExitCode)
	}
	if stdout, _ := h.logs(c.ID); stdout != "ready\n" {
		h.t.Errorf("stdout after a cancelled Stop = %q, want %q", stdout, "ready\n")
	}
}
