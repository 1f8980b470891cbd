package runtimetest

import (
	"context"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// lifecycleCases check Run, Wait, InspectContainer and Remove.
var lifecycleCases = []testCase{
	{"ExitCodes", testExitCodes},
	{"WaitAfterExit", testWaitAfterExit},
	{"WaitCancelled", testWaitCancelled},
	{"Inspect", testInspect},
	{"RemoveRunning", testRemoveRunning},
	{"RemoveExited", testRemoveExited},
}

func testExitCodes(h *harness) {
	for _, tc := range []struct {
		cmd  []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"false"}, 1},
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"sh", "-c", "exit 3"}, 3},
		{[]string{"sh", "-c", "echo hi; exit 42"}, 42},
		{[]string{"sh", "-c", "false || exit 5"}, 5},
		{[]string{"sh", "-c", "true && exit 6"}, 6},
		{[]string{"sh", "-c", "no-such-command-berth"}, 127},
	} {
		st, stdout, stderr := h.runToEnd(h.spec(tc.cmd...))
		assert.Equal(h.t, tc.want, st.ExitCode, "exit code of %q (stdout %q, stderr %q)", tc.cmd, stdout, stderr)
		assert.False(h.t, st.OOMKilled, "%q: OOMKilled set", tc.cmd)
	}
}

// testWaitAfterExit checks that Wait may be called again after the exit and
// reports the same status, and that the container is kept (no auto-remove).
func testWaitAfterExit(h *harness) {
	c := h.run(h.sh("exit 7"))
	first := h.wait(c.ID)
	second := h.wait(c.ID)
	assert.Equal(h.t, 7, first.ExitCode, "exit code from the first Wait")
	assert.Equal(h.t, 7, second.ExitCode, "exit code from the second Wait")
	assert.Equal(h.t, first, second, "status from the second Wait, against the first")
	assert.Equal(h.t, runtime.StateExited, h.inspect(c.ID).State, "state after exit")
	assert.Equal(h.t, first, h.wait(c.ID), "status from Wait after Inspect, against the first Wait")
}

// testWaitCancelled checks that cancelling Wait's ctx returns ctx's error
// promptly and leaves the container running, to be waited for again.
func testWaitCancelled(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")

	ctx, cancel := context.WithCancel(h.ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.rt.Wait(ctx, c.ID)
	require.ErrorIs(h.t, err, context.Canceled, "Wait with cancelled ctx")
	assert.LessOrEqual(h.t, time.Since(start), 20*time.Second, "time Wait took to notice the cancelled ctx")

	ctx, cancel = context.WithTimeout(h.ctx, 300*time.Millisecond)
	defer cancel()
	_, err = h.rt.Wait(ctx, c.ID)
	require.ErrorIs(h.t, err, context.DeadlineExceeded, "Wait with expired ctx")
	require.Equal(h.t, runtime.StateRunning, h.inspect(c.ID).State, "state after cancelled Waits")

	done := make(chan runtime.ExitStatus, 1)
	go func() {
		st, err := h.rt.Wait(h.ctx, c.ID)
		assert.NoError(h.t, err, "Wait(%s) again", c.ID)
		done <- st
	}()
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Signal: "SIGKILL"}), "Stop(%s)", c.ID)
	assert.Equal(h.t, 137, (<-done).ExitCode, "exit code from Wait again after kill")
}

// testInspect checks what InspectContainer and Run report.
func testInspect(h *harness) {
	spec := h.sh("echo ready; sleep 30")
	spec.Name = h.name("inspect")
	spec.Labels = h.labels("io.berth.test.extra", "x")
	before := time.Now().Add(-time.Minute)
	c := h.run(spec)
	assert.Equal(h.t, spec.Name, c.Name, "Name Run returned")
	h.waitOutput(c.ID, "ready")
	got := h.inspect(c.ID)
	assert.Equal(h.t, c.ID, got.ID, "InspectContainer(%s).ID", c.ID)
	assert.Equal(h.t, spec.Name, got.Name, "InspectContainer(%s).Name", c.ID)
	assert.Equal(h.t, spec.Image, got.Image, "InspectContainer(%s).Image", c.ID)
	assert.Equal(h.t, runtime.StateRunning, got.State, "state of a sleeping container")
	assert.Subset(h.t, got.Labels, spec.Labels, "labels of the container")
	assert.WithinRange(h.t, got.Created, before, time.Now().Add(time.Minute), "Created: about now")
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Signal: "SIGKILL"}), "Stop(%s)", c.ID)
	assert.Equal(h.t, runtime.StateExited, h.inspect(c.ID).State, "state after Stop")
}

// testRemoveRunning checks that Remove kills a running container and
// forgets it.
func testRemoveRunning(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	require.NoError(h.t, h.rt.Remove(h.ctx, c.ID), "Remove of a running container")
	h.checkGone(c.ID)
}

// testRemoveExited checks that Remove forgets an exited container.
func testRemoveExited(h *harness) {
	c, _ := h.mustSucceed(h.spec("echo", "bye"))
	require.NoError(h.t, h.rt.Remove(h.ctx, c.ID), "Remove of an exited container")
	h.checkGone(c.ID)
}

// checkGone checks that a removed container is not found any more.
func (h *harness) checkGone(id string) {
	h.t.Helper()
	_, err := h.rt.InspectContainer(h.ctx, id)
	h.expect("InspectContainer after Remove", err, runtime.ErrNotFound)
	_, err = h.rt.Wait(h.ctx, id)
	h.expect("Wait after Remove", err, runtime.ErrNotFound)
	err = h.rt.Remove(h.ctx, id)
	h.expect("Remove after Remove", err, runtime.ErrNotFound)
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	require.NoError(h.t, err, "ListContainers")
	assert.Empty(h.t, ids(cs), "IDs ListContainers returned after Remove")
}
