package core

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

func TestContainerRemovedAfterWaitOrStartError(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.FailNth(fake.OpWait, e.rt.Calls(fake.OpWait)+1, runtime.ErrUnavailable)
	res, err := e.core.Run(context.Background(), job("w", "true"))
	if !errors.Is(err, runtime.ErrUnavailable) || res.Commit.Committed || res.Commit.Reason != NoCommitWaitError {
		t.Fatalf("wait error: %v, %+v", err, res.Commit)
	}
	e.noContainers()
	// A Run that fails after creating its container (a driver that does
	// not clean up): berth removes it.
	e.rt.Inject(fake.Fault{Op: fake.OpRun, Nth: e.rt.Calls(fake.OpRun) + 1, Err: runtime.ErrUnavailable, After: true})
	if _, err := e.core.Run(context.Background(), job("w", "true")); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("start error: %v", err)
	}
	e.noContainers()
	if jobs, _ := e.core.st.Jobs(context.Background()); len(jobs) != 0 {
		t.Fatalf("job rows left: %+v", jobs)
	}
}

// startBlocking runs a job that runs until cancelled, in the background,
// and waits until its container runs. The returned func cancels it and
// waits for Run to return.
func (e *env) startBlocking(c *Core, j Job) func() {
	e.t.Helper()
	if c == nil {
		c = e.core
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	before := e.running()
	go func() {
		defer close(done)
		c.Run(ctx, j)
	}()
	waitFor(e.t, "a blocking job to run", func() bool { return e.running() == before+1 })
	return func() { cancel(); <-done }
}

func (e *env) running() int {
	n := 0
	for _, c := range e.containers() {
		if c.State == runtime.StateRunning {
			n++
		}
	}
	return n
}

func TestSameWorkItemNeverRunsTwiceAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	const n = 6
	outs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, outs[i] = e.run(nil, job("w", "cat /work/log; sleep 0.01; echo x >> /work/log"))
		}()
	}
	wg.Wait()
	// Each job saw every earlier job's work: they ran one after another.
	slices.Sort(outs)
	for i, out := range outs {
		if out != strings.Repeat("x\n", i) {
			t.Fatalf("outputs %q: jobs of one work item overlapped", outs)
		}
	}
	if en := e.entry("w"); en.Snapshot.Generation != n {
		t.Fatalf("generation %d after %d serial commits", en.Snapshot.Generation, n)
	}
}

func TestWorkItemBusyTimesOut(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WorkItemTimeout = 20 * ms })
	stop := e.startBlocking(nil, job("w", "sleep 3600"))
	defer stop()
	runs := e.rt.Calls(fake.OpRun)
	_, err := e.core.Run(context.Background(), job("w", "true"))
	if !errors.Is(err, ErrWorkItemBusy) || !Retryable(err) {
		t.Fatalf("second job of a busy work item: %v, want retryable ErrWorkItemBusy", err)
	}
	if e.rt.Calls(fake.OpRun) != runs {
		t.Fatal("a container was started for the refused job")
	}
	// Other work items are not held up.
	if res, _ := e.run(nil, job("other", "true")); res.ExitCode != 0 {
		t.Fatal(res)
	}
}

func TestWorkItemBusyAcrossProcesses(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WorkItemTimeout = 30 * ms })
	_, release := helperProcess(t, "hold-lock", "BERTH_DIR="+e.cfg.StateDir+"/locks",
		"BERTH_PROJECT="+DefaultProject, "BERTH_ITEM=w")
	_, err := e.core.Run(context.Background(), job("w", "true"))
	if !errors.Is(err, ErrWorkItemBusy) {
		t.Fatalf("work item locked by another process: %v, want ErrWorkItemBusy", err)
	}
	if e.rt.Calls(fake.OpRun) != 0 {
		t.Fatal("a container was started while another process held the work item")
	}
	release()
	if res, _ := e.run(nil, job("w", "true")); !res.Commit.Committed {
		t.Fatalf("after release: %+v", res.Commit)
	}
}

func TestQueueTimeoutBeforeAnyContainer(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrent, c.QueueTimeout = 1, 20*ms })
	stop := e.startBlocking(nil, job("a", "sleep 3600"))
	defer stop()
	_, err := e.core.Run(context.Background(), job("b", "true"))
	if !errors.Is(err, ErrQueueTimeout) || !Retryable(err) {
		t.Fatalf("job over the cap: %v, want retryable ErrQueueTimeout", err)
	}
	if e.rt.Calls(fake.OpRun) != 1 || len(e.containers()) != 1 {
		t.Fatal("a container was made for a job without a slot")
	}
}

func TestSlotIsReservedBeforeTheContainer(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrent = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, item := range []string{"a", "b", "c", "d", "e"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.core.Run(ctx, job(item, "sleep 3600"))
		}()
	}
	waitFor(t, "two jobs running and three in line behind them", func() bool { return e.running() == 2 && liveTickets(t, e.core.slots) == 5 })
	if runs := e.rt.Calls(fake.OpRun); runs != 2 {
		t.Fatalf("%d containers started with a cap of 2", runs)
	}
	cancel()
	wg.Wait()
	e.noContainers()
}
