package runtimetest

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// logsCases check Logs.
var logsCases = []testCase{
	{"Separated", testLogsSeparated},
	{"Follow", testLogsFollow},
	{"FastExit", testLogsFastExit},
	{"Large", testLogsLarge},
	{"Cancelled", testLogsCancelled},
}

// testLogsSeparated checks that stdout and stderr reach their own writers.
func testLogsSeparated(h *harness) {
	st, stdout, stderr := h.runToEnd(h.sh("echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo -n last"))
	if st.ExitCode != 0 {
		h.t.Fatalf("exit code %d", st.ExitCode)
	}
	if want := "out1\nout2\nlast"; stdout != want {
		h.t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if want := "err1\nerr2\n"; stderr != want {
		h.t.Errorf("stderr = %q, want %q", stderr, want)
	}
	// Without Follow, an exited container's output is all there.
	c := h.run(h.sh("echo a; echo b >&2"))
	h.wait(c.ID)
	stdout, stderr, err := h.tryLogs(h.ctx, c.ID, false)
	if err != nil {
		h.t.Fatalf("Logs: %v", err)
	}
	if stdout != "a\n" || stderr != "b\n" {
		h.t.Errorf("Logs without Follow after exit = %q, %q, want %q, %q", stdout, stderr, "a\n", "b\n")
	}
}

// testLogsFollow follows a container from its start: Logs returns once it
// has exited, with every line.
func testLogsFollow(h *harness) {
	c := h.run(h.sh("echo first; sleep 1; echo second >&2; sleep 1; echo third"))
	stdout, stderr := h.logs(c.ID)
	if stdout != "first\nthird\n" || stderr != "second\n" {
		h.t.Errorf("followed logs = %q, %q, want %q, %q", stdout, stderr, "first\nthird\n", "second\n")
	}
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	st, err := h.rt.Wait(ctx, c.ID)
	if err != nil {
		h.t.Fatalf("Wait after followed Logs returned: %v (Logs returned before the exit?)", err)
	}
	if st.ExitCode != 0 {
		h.t.Errorf("exit code %d, want 0", st.ExitCode)
	}
}

// testLogsFastExit checks that the output of a container that exits at
// once is not lost, whether Logs follows it at once or reads it after Wait.
func testLogsFastExit(h *harness) {
	for i := range 5 {
		c := h.run(h.spec("echo", "fast"))
		stdout, stderr := h.logs(c.ID)
		if stdout != "fast\n" || stderr != "" {
			h.t.Errorf("run %d: followed logs = %q, %q, want %q, %q", i, stdout, stderr, "fast\n", "")
		}
		c = h.run(h.sh("echo quick >&2"))
		h.wait(c.ID)
		stdout, stderr = h.logs(c.ID)
		if stdout != "" || stderr != "quick\n" {
			h.t.Errorf("run %d: logs after Wait = %q, %q, want %q, %q", i, stdout, stderr, "", "quick\n")
		}
	}
}

// testLogsLarge checks that a large output arrives whole.
func testLogsLarge(h *harness) {
	const n = 100_000
	st, stdout, stderr := h.runToEnd(h.sh("head -c 100000 /dev/zero; echo; echo done >&2"))
	if st.ExitCode != 0 {
		h.t.Fatalf("exit code %d (stderr %q)", st.ExitCode, stderr)
	}
	if len(stdout) != n+1 || strings.Trim(stdout, "\x00") != "\n" {
		h.t.Errorf("stdout: %d bytes, want %d zero bytes and a newline", len(stdout), n)
	}
	if stderr != "done\n" {
		h.t.Errorf("stderr = %q, want %q", stderr, "done\n")
	}
}

// testLogsCancelled cancels a followed Logs: it returns ctx's error and
// leaves the container running.
func testLogsCancelled(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	ctx, cancel := context.WithTimeout(h.ctx, 300*time.Millisecond)
	defer cancel()
	stdout, _, err := h.tryLogs(ctx, c.ID, true)
	if !errors.Is(err, context.DeadlineExceeded) {
		h.t.Errorf("followed Logs with expiring ctx: got %v, want context.DeadlineExceeded", err)
	}
	if stdout != "ready\n" {
		h.t.Errorf("followed Logs copied %q before the ctx expired, want %q", stdout, "ready\n")
	}
	if got := h.inspect(c.ID).State; got != runtime.StateRunning {
		h.t.Errorf("state after cancelled Logs = %q, want %q", got, runtime.StateRunning)
	}
}
