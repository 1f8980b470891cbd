package core

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveTickets counts the tickets in s's line whose owner holds them: the
// jobs running and waiting, as every process sees them.
func liveTickets(t testing.TB, s *slots) int {
	t.Helper()
	line, err := s.line()
	require.NoError(t, err, "read the line")
	n := 0
	for _, tk := range line {
		if live(tk.path) {
			n++
		}
	}
	return n
}

// slotHelper is another process waiting for (then holding) a slot.
type slotHelper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startSlotHelper starts the test binary as a process that takes one of
// max slots under dir; id is sent on admitted when it gets it.
func startSlotHelper(t *testing.T, dir string, max, id int, admitted chan<- int) *slotHelper {
	t.Helper()
	cmd, stdin, stdout := startHelper(t, "take-slot", "GORACE=atexit_sleep_ms=0", "BERTH_DIR="+dir, "BERTH_MAX="+strconv.Itoa(max))
	h := &slotHelper{cmd: cmd, stdin: stdin}
	read := make(chan struct{})
	go func() {
		defer close(read)
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && assert.Equal(t, "admitted\n", line, "helper %d's output", id) {
			admitted <- id
		}
	}()
	t.Cleanup(func() {
		h.kill()
		<-read
	})
	return h
}

// finish asks the helper to give its slot back and waits for its exit.
func (h *slotHelper) finish(t *testing.T) {
	t.Helper()
	h.stdin.Close()
	require.NoError(t, h.cmd.Wait(), "helper")
}

// kill kills the helper wherever it is and waits for its end.
func (h *slotHelper) kill() {
	if h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
}

// next returns the next helper admitted.
func next(t *testing.T, admitted <-chan int) int {
	t.Helper()
	select {
	case id := <-admitted:
		return id
	case <-time.After(30 * time.Second):
		require.FailNow(t, "no helper admitted within 30s")
		return -1
	}
}

func TestSlotsFirstComeFirstServedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	s, err := newSlots(dir, 1)
	require.NoError(t, err)
	release, err := s.acquire(context.Background(), 0)
	require.NoError(t, err)
	// Four processes join the line one after the other: each starts once
	// the ticket of the one before is in the state.
	const n = 4
	admitted := make(chan int, n)
	helpers := make([]*slotHelper, n)
	for i := range n {
		helpers[i] = startSlotHelper(t, dir, 1, i, admitted)
		waitFor(t, "helper "+strconv.Itoa(i)+"'s ticket", func() bool { return liveTickets(t, s) == i+2 })
	}
	release()
	for want := range n {
		got := next(t, admitted)
		require.Equal(t, want, got, "helper the slot went to (first come, first served)")
		require.Empty(t, admitted, "helpers admitted while helper %d holds the only slot", got)
		helpers[got].finish(t)
	}
	assert.Zero(t, liveTickets(t, s), "tickets left in the line after every helper finished")
}

func TestSlotsFirstComeFirstServedInProcess(t *testing.T) {
	s, err := newSlots(t.TempDir(), 1)
	require.NoError(t, err)
	ctx := context.Background()
	release, err := s.acquire(ctx, 0)
	require.NoError(t, err)
	type grant struct {
		id      int
		release func()
	}
	const n = 5
	order := make(chan grant, n)
	for i := range n {
		go func() {
			rel, err := s.acquire(ctx, 0)
			if !assert.NoError(t, err) {
				return
			}
			order <- grant{i, rel}
		}()
		waitFor(t, "waiter "+strconv.Itoa(i)+"'s ticket", func() bool { return liveTickets(t, s) == i+2 })
	}
	release()
	for want := range n {
		var g grant
		select {
		case g = <-order:
		case <-time.After(30 * time.Second):
			require.FailNow(t, "waiter not admitted within 30s", "waiter %d", want)
		}
		require.Equal(t, want, g.id, "waiter the slot went to (first come, first served)")
		g.release()
	}
	assert.Zero(t, liveTickets(t, s), "tickets left in the line")
}

func TestSlotsCapAndTimeout(t *testing.T) {
	s, err := newSlots(t.TempDir(), 2)
	require.NoError(t, err)
	ctx := context.Background()
	r1, err := s.acquire(ctx, 0)
	require.NoError(t, err)
	r2, err := s.acquire(ctx, time.Millisecond)
	require.NoError(t, err, "second of two slots")
	_, err = s.acquire(ctx, 20*time.Millisecond)
	require.ErrorIs(t, err, ErrQueueTimeout, "third of two slots")
	require.True(t, Retryable(err), "queue timeout not retryable: %v", err)
	require.Equal(t, 2, liveTickets(t, s), "tickets in the line after a timed-out wait (the holders')")
	r1()
	r3, err := s.acquire(ctx, 30*time.Second)
	require.NoError(t, err, "slot after a release")
	r2()
	r3()
}

func TestSlotsCancelledWaitLeavesTheLine(t *testing.T) {
	s, err := newSlots(t.TempDir(), 1)
	require.NoError(t, err)
	ctx := context.Background()
	release, err := s.acquire(ctx, 0)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := s.acquire(cctx, 0)
		done <- err
	}()
	waitFor(t, "the waiter's ticket", func() bool { return liveTickets(t, s) == 2 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled, "cancelled wait")
	require.Equal(t, 1, liveTickets(t, s), "tickets in the line after a cancelled wait (the holder's)")
	_, err = s.acquire(cctx, 0)
	require.ErrorIs(t, err, context.Canceled, "acquire with a cancelled ctx")
	release()
}

func TestSlotsKilledProcessesFreeTheirPlaces(t *testing.T) {
	dir := t.TempDir()
	s, err := newSlots(dir, 1)
	require.NoError(t, err)
	admitted := make(chan int, 2)
	holder := startSlotHelper(t, dir, 1, 0, admitted)
	require.Equal(t, 0, next(t, admitted), "helper admitted (want the holder)")
	waiter := startSlotHelper(t, dir, 1, 1, admitted)
	waitFor(t, "the other process's ticket", func() bool { return liveTickets(t, s) == 2 })
	done := make(chan error, 1)
	go func() {
		release, err := s.acquire(context.Background(), 30*time.Second)
		if err == nil {
			release()
		}
		done <- err
	}()
	waitFor(t, "this process's ticket", func() bool { return liveTickets(t, s) == 3 })
	// Neither the holder nor the waiter ahead ever lets go: they die.
	waiter.kill()
	holder.kill()
	require.NoError(t, <-done, "wait behind two killed processes")
	// Their tickets are swept: nothing is left but the guard.
	require.Equal(t, 2, s.prune(), "dead tickets pruned")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{guardFile}, names, "left in the line's directory")
}

func TestSlotsNoCap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s, err := newSlots(dir, 0)
	require.NoError(t, err)
	for range 3 {
		_, err := s.acquire(context.Background(), time.Millisecond)
		require.NoError(t, err, "acquire without a cap")
	}
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "a core without a cap made its line's directory")
}
