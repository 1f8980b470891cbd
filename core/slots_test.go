package core

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// liveTickets counts the tickets in s's line whose owner holds them: the
// jobs running and waiting, as every process sees them.
func liveTickets(t testing.TB, s *slots) int {
	t.Helper()
	line, err := s.line()
	if err != nil {
		t.Fatalf("read the line: %v", err)
	}
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
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=take-slot", "GORACE=atexit_sleep_ms=0", "BERTH_DIR="+dir, "BERTH_MAX="+strconv.Itoa(max))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &slotHelper{cmd: cmd, stdin: stdin}
	read := make(chan struct{})
	go func() {
		defer close(read)
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line == "admitted\n" {
			admitted <- id
		} else if err == nil {
			t.Errorf("helper %d: %q, want admitted", id, line)
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
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
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
		t.Fatal("no helper admitted within 30s")
		return -1
	}
}

func TestSlotsFirstComeFirstServedAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	s, err := newSlots(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	release, err := s.acquire(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
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
		if got != want {
			t.Fatalf("the slot went to helper %d, want %d (first come, first served)", got, want)
		}
		select {
		case other := <-admitted:
			t.Fatalf("helper %d admitted while helper %d holds the only slot", other, got)
		default:
		}
		helpers[got].finish(t)
	}
	if got := liveTickets(t, s); got != 0 {
		t.Fatalf("%d tickets left in the line after every helper finished", got)
	}
}

func TestSlotsFirstComeFirstServedInProcess(t *testing.T) {
	s, err := newSlots(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	release, err := s.acquire(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	type grant struct {
		id      int
		release func()
	}
	const n = 5
	order := make(chan grant, n)
	for i := range n {
		go func() {
			rel, err := s.acquire(ctx, 0)
			if err != nil {
				t.Error(err)
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
			t.Fatalf("waiter %d not admitted within 30s", want)
		}
		if g.id != want {
			t.Fatalf("the slot went to waiter %d, want %d (first come, first served)", g.id, want)
		}
		g.release()
	}
	if got := liveTickets(t, s); got != 0 {
		t.Fatalf("%d tickets left in the line", got)
	}
}

func TestSlotsCapAndTimeout(t *testing.T) {
	s, err := newSlots(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r1, err := s.acquire(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.acquire(ctx, time.Millisecond)
	if err != nil {
		t.Fatalf("second of two slots: %v", err)
	}
	_, err = s.acquire(ctx, 20*time.Millisecond)
	if !errors.Is(err, ErrQueueTimeout) || !Retryable(err) {
		t.Fatalf("third of two slots: %v, want retryable ErrQueueTimeout", err)
	}
	if got := liveTickets(t, s); got != 2 {
		t.Fatalf("%d tickets in the line after a timed-out wait, want the 2 holders'", got)
	}
	r1()
	r3, err := s.acquire(ctx, 30*time.Second)
	if err != nil {
		t.Fatalf("slot after a release: %v", err)
	}
	r2()
	r3()
}

func TestSlotsCancelledWaitLeavesTheLine(t *testing.T) {
	s, err := newSlots(t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	release, err := s.acquire(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := s.acquire(cctx, 0)
		done <- err
	}()
	waitFor(t, "the waiter's ticket", func() bool { return liveTickets(t, s) == 2 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v, want context.Canceled", err)
	}
	if got := liveTickets(t, s); got != 1 {
		t.Fatalf("%d tickets in the line after a cancelled wait, want the holder's", got)
	}
	if _, err := s.acquire(cctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled ctx: %v, want context.Canceled", err)
	}
	release()
}

func TestSlotsKilledProcessesFreeTheirPlaces(t *testing.T) {
	dir := t.TempDir()
	s, err := newSlots(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	admitted := make(chan int, 2)
	holder := startSlotHelper(t, dir, 1, 0, admitted)
	if got := next(t, admitted); got != 0 {
		t.Fatalf("helper %d admitted, want the holder", got)
	}
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
	if err := <-done; err != nil {
		t.Fatalf("wait behind two killed processes: %v", err)
	}
	// Their tickets are swept: nothing is left but the guard.
	if n := s.prune(); n != 2 {
		t.Fatalf("prune removed %d dead tickets, want 2", n)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != guardFile {
		t.Fatalf("left in the line's directory: %v, want only %s", entries, guardFile)
	}
}

func TestSlotsNoCap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	s, err := newSlots(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.acquire(context.Background(), time.Millisecond); err != nil {
			t.Fatalf("acquire without a cap: %v", err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a core without a cap made its line's directory: %v", err)
	}
}
