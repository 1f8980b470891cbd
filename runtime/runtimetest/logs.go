package runtimetest

import (
	"context"
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.Equal(h.t, 0, st.ExitCode, "exit code (stdout %q, stderr %q)", stdout, stderr)
	assert.Equal(h.t, "out1\nout2\nlast", stdout, "stdout")
	assert.Equal(h.t, "err1\nerr2\n", stderr, "stderr")
	// Without Follow, an exited container's output is all there.
	c := h.run(h.sh("echo a; echo b >&2"))
	h.wait(c.ID)
	stdout, stderr, err := h.tryLogs(h.ctx, c.ID, false)
	require.NoError(h.t, err, "Logs(%s) without Follow", c.ID)
	assert.Equal(h.t, "a\n", stdout, "stdout from Logs without Follow after exit")
	assert.Equal(h.t, "b\n", stderr, "stderr from Logs without Follow after exit")
}

// testLogsFollow follows a container from its start: Logs returns once it
// has exited, with every line.
func testLogsFollow(h *harness) {
	c := h.run(h.sh("echo first; sleep 1; echo second >&2; sleep 1; echo third"))
	stdout, stderr := h.logs(c.ID)
	assert.Equal(h.t, "first\nthird\n", stdout, "stdout from followed Logs")
	assert.Equal(h.t, "second\n", stderr, "stderr from followed Logs")
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	st, err := h.rt.Wait(ctx, c.ID)
	require.NoError(h.t, err, "Wait after followed Logs returned (Logs returned before the exit?)")
	assert.Equal(h.t, 0, st.ExitCode, "exit code")
}

// testLogsFastExit checks that the output of a container that exits at
// once is not lost, whether Logs follows it at once or reads it after Wait.
func testLogsFastExit(h *harness) {
	for i := range 5 {
		c := h.run(h.spec("echo", "fast"))
		stdout, stderr := h.logs(c.ID)
		assert.Equal(h.t, "fast\n", stdout, "run %d: stdout from followed Logs", i)
		assert.Empty(h.t, stderr, "run %d: stderr from followed Logs", i)
		c = h.run(h.sh("echo quick >&2"))
		h.wait(c.ID)
		stdout, stderr = h.logs(c.ID)
		assert.Empty(h.t, stdout, "run %d: stdout from Logs after Wait", i)
		assert.Equal(h.t, "quick\n", stderr, "run %d: stderr from Logs after Wait", i)
	}
}

// testLogsLarge checks that a large output arrives whole.
func testLogsLarge(h *harness) {
	const n = 100_000
	st, stdout, stderr := h.runToEnd(h.sh("head -c 100000 /dev/zero; echo; echo done >&2"))
	require.Equal(h.t, 0, st.ExitCode, "exit code (stderr %q)", stderr)
	// Not assert.Len or assert.Equal of stdout: a failure would print 100 kB.
	assert.Equal(h.t, n+1, len(stdout), "bytes of stdout: %d zero bytes and a newline", n)
	assert.Equal(h.t, "\n", strings.Trim(stdout, "\x00"), "stdout without its zero bytes")
	assert.Equal(h.t, "done\n", stderr, "stderr")
}

// testLogsCancelled cancels a followed Logs: it returns ctx's error and
// leaves the container running.
func testLogsCancelled(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	ctx, cancel := context.WithTimeout(h.ctx, 300*time.Millisecond)
	defer cancel()
	stdout, _, err := h.tryLogs(ctx, c.ID, true)
	assert.ErrorIs(h.t, err, context.DeadlineExceeded, "followed Logs with expiring ctx")
	assert.Equal(h.t, "ready\n", stdout, "stdout followed Logs copied before the ctx expired")
	assert.Equal(h.t, runtime.StateRunning, h.inspect(c.ID).State, "state after cancelled Logs")
}
