package runtimetest

import (
	"context"
	"errors"
	"time"

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
		if st.ExitCode != tc.want {
			h.t.Errorf("%q: exit code %d, want %d (stdout %q, stderr %q)", tc.cmd, st.ExitCode, tc.want, stdout, stderr)
		}
		if st.OOMKilled {
			h.t.Errorf("%q: OOMKilled set", tc.cmd)
		}
	}
}

// testWaitAfterExit checks that Wait may be called again after the exit and
// reports the same status, and that the container is kept (no auto-remove).
func testWaitAfterExit(h *harness) {
	c := h.run(h.sh("exit 7"))
	first := h.wait(c.ID)
	second := h.wait(c.ID)
	if first.ExitCode != 7 || second.ExitCode != 7 {
		h.t.Errorf("Wait twice: exit codes %d and %d, want 7 and 7", first.ExitCode, second.ExitCode)
	}
	if first != second {
		h.t.Errorf("Wait twice: statuses differ: %+v then %+v", first, second)
	}
	if got := h.inspect(c.ID).State; got != runtime.StateExited {
		h.t.Errorf("state after exit = %q, want %q", got, runtime.StateExited)
	}
	third := h.wait(c.ID)
	if third != first {
		h.t.Errorf("Wait after Inspect: %+v, want %+v", third, first)
	}
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
	if !errors.Is(err, context.Canceled) {
		h.t.Fatalf("Wait with cancelled ctx: got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		h.t.Errorf("Wait took %v to notice the cancelled ctx", d)
	}

	ctx, cancel = context.WithTimeout(h.ctx, 300*time.Millisecond)
	defer cancel()
	_, err = h.rt.Wait(ctx, c.ID)
	if !errors.Is(err, context.DeadlineExceeded) {
		h.t.Fatalf("Wait with expired ctx: got %v, want context.DeadlineExceeded", err)
	}
	if got := h.inspect(c.ID).State; got != runtime.StateRunning {
		h.t.Fatalf("state after cancelled Waits = %q, want %q", got, runtime.StateRunning)
	}

	done := make(chan runtime.ExitStatus, 1)
	go func() {
		st, err := h.rt.Wait(h.ctx, c.ID)
		if err != nil {
			h.t.Errorf("Wait again: %v", err)
		}
		done <- st
	}()
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Signal: "SIGKILL"}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	if st := <-done; st.ExitCode != 137 {
		h.t.Errorf("Wait again after kill: exit code %d, want 137", st.ExitCode)
	}
}

// testInspect checks what InspectContainer and Run report.
func testInspect(h *harness) {
	spec := h.sh("echo ready; sleep 30")
	spec.Name = h.name("inspect")
	spec.Labels = h.labels("io.berth.test.extra", "x")
	before := time.Now().Add(-time.Minute)
	c := h.run(spec)
	if c.Name != spec.Name {
		h.t.Errorf("Run: Name = %q, want %q", c.Name, spec.Name)
	}
	h.waitOutput(c.ID, "ready")
	got := h.inspect(c.ID)
	if got.ID != c.ID || got.Name != spec.Name || got.Image != spec.Image {
		h.t.Errorf("InspectContainer = {ID %q Name %q Image %q}, want {%q %q %q}",
			got.ID, got.Name, got.Image, c.ID, spec.Name, spec.Image)
	}
	if got.State != runtime.StateRunning {
		h.t.Errorf("state of a sleeping container = %q, want %q", got.State, runtime.StateRunning)
	}
	for k, v := range spec.Labels {
		if got.Labels[k] != v {
			h.t.Errorf("label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if got.Created.Before(before) || got.Created.After(time.Now().Add(time.Minute)) {
		h.t.Errorf("Created = %v, want about now", got.Created)
	}
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Signal: "SIGKILL"}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	if got := h.inspect(c.ID).State; got != runtime.StateExited {
		h.t.Errorf("state after Stop = %q, want %q", got, runtime.StateExited)
	}
}

// testRemoveRunning checks that Remove kills a running container and
// forgets it.
func testRemoveRunning(h *harness) {
	c := h.run(h.sh("echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	if err := h.rt.Remove(h.ctx, c.ID); err != nil {
		h.t.Fatalf("Remove of a running container: %v", err)
	}
	h.checkGone(c.ID)
}

// testRemoveExited checks that Remove forgets an exited container.
func testRemoveExited(h *harness) {
	c, _ := h.mustSucceed(h.spec("echo", "bye"))
	if err := h.rt.Remove(h.ctx, c.ID); err != nil {
		h.t.Fatalf("Remove of an exited container: %v", err)
	}
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
	if err != nil {
		h.t.Fatalf("ListContainers: %v", err)
	}
	if len(cs) != 0 {
		h.t.Errorf("ListContainers after Remove: %v, want none", ids(cs))
	}
}
