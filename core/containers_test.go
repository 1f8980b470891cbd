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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContainerRemovedAfterWaitOrStartError(t *testing.T) {
	e := newEnv(t, nil)
	errWait := errors.New("wait broke")
	e.rt.FailNth(fake.OpWait, e.rt.Calls(fake.OpWait)+1, errWait)
	res, err := e.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, errWait, "wait error")
	require.False(t, res.Commit.Committed, "committed after a wait error")
	require.Equal(t, NoCommitWaitError, res.Commit.Reason, "commit reason after a wait error")
	e.noContainers()
	// A Run that fails after creating its container (a driver that does
	// not clean up): berth removes it.
	e.rt.Inject(fake.Fault{Op: fake.OpRun, Nth: e.rt.Calls(fake.OpRun) + 1, Err: runtime.ErrUnavailable, After: true})
	_, err = e.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, runtime.ErrUnavailable, "start error")
	e.noContainers()
	jobs, _ := e.core.st.Jobs(context.Background())
	assert.Empty(t, jobs, "job rows left")
}

// TestAWaitRidesOutAnEngineThatDoesNotAnswer: an engine restarted mid-job
// (its wait fails unavailable, twice) does not fail a job that goes on.
func TestAWaitRidesOutAnEngineThatDoesNotAnswer(t *testing.T) {
	e := newEnv(t, nil)
	n := e.rt.Calls(fake.OpWait)
	e.rt.FailNth(fake.OpWait, n+1, runtime.ErrUnavailable)
	e.rt.FailNth(fake.OpWait, n+2, runtime.ErrUnavailable)
	res, out := e.run(nil, job("w", "echo done"))
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, "done\n", out)
	assert.True(t, res.Commit.Committed, "a job whose engine came back is committed: %+v", res.Commit)
	assert.Equal(t, n+3, e.rt.Calls(fake.OpWait), "waits: two failed, one answered")
	e.noContainers()
}

// TestAContainerTheEngineKilledAsItWentDownFailsTheJob: the engine went
// down mid-job (its wait failed unavailable) and the container ended by a
// signal (dockerd stops its containers as it stops): the job fails as
// engine-unavailable, naming the exit, and is not committed. The same exit
// without the engine going down is the job's own.
func TestAContainerTheEngineKilledAsItWentDownFailsTheJob(t *testing.T) {
	e := newEnv(t, nil)
	e.rt.FailNth(fake.OpWait, e.rt.Calls(fake.OpWait)+1, runtime.ErrUnavailable)
	res, err := e.core.Run(context.Background(), job("w", "exit 143"))
	require.ErrorIs(t, err, runtime.ErrUnavailable, "a job the engine's stop ended")
	assert.Contains(t, err.Error(), "the engine stopped while the job ran", "the error says what happened")
	assert.Equal(t, 143, res.ExitCode, "the container's exit is kept")
	assert.False(t, res.Commit.Committed, "committed: %+v", res.Commit)
	e.noContainers()

	res, err = e.core.Run(context.Background(), job("w", "exit 143"))
	require.NoError(t, err, "a job that ended itself with 143")
	assert.Equal(t, 143, res.ExitCode)

	// The engine stopping answers the wait it serves but no new call
	// (dockerd): a ping right after the exit tells.
	e.rt.FailNth(fake.OpPing, e.rt.Calls(fake.OpPing)+1, runtime.ErrUnavailable)
	res, err = e.core.Run(context.Background(), job("w", "exit 143"))
	require.ErrorIs(t, err, runtime.ErrUnavailable, "a job whose engine was stopping when it ended")
	assert.Equal(t, 143, res.ExitCode)
	e.noContainers()
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
		require.Equal(t, strings.Repeat("x\n", i), out, "outputs %q: jobs of one work item overlapped", outs)
	}
	assert.Equal(t, n, e.entry("w").Snapshot.Generation, "generation after %d serial commits", n)
}

func TestWorkItemBusyTimesOut(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WorkItemTimeout = 20 * ms })
	stop := e.startBlocking(nil, job("w", "sleep 3600"))
	defer stop()
	runs := e.rt.Calls(fake.OpRun)
	_, err := e.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, ErrWorkItemBusy, "second job of a busy work item")
	require.True(t, Retryable(err), "work item busy is not retryable: %v", err)
	require.Equal(t, runs, e.rt.Calls(fake.OpRun), "containers started (none for the refused job)")
	// Other work items are not held up.
	res, _ := e.run(nil, job("other", "true"))
	assert.Equal(t, 0, res.ExitCode, "job of another work item: %+v", res)
}

func TestWorkItemBusyAcrossProcesses(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WorkItemTimeout = 30 * ms })
	_, release := helperProcess(t, "hold-lock", "BERTH_DIR="+e.cfg.StateDir+"/locks",
		"BERTH_PROJECT="+DefaultProject, "BERTH_ITEM=w")
	_, err := e.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, ErrWorkItemBusy, "work item locked by another process")
	require.Zero(t, e.rt.Calls(fake.OpRun), "containers started while another process held the work item")
	release()
	res, _ := e.run(nil, job("w", "true"))
	assert.True(t, res.Commit.Committed, "not committed after release: %+v", res.Commit)
}

func TestQueueTimeoutBeforeAnyContainer(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrent, c.QueueTimeout = 1, 20*ms })
	stop := e.startBlocking(nil, job("a", "sleep 3600"))
	defer stop()
	_, err := e.core.Run(context.Background(), job("b", "true"))
	require.ErrorIs(t, err, ErrQueueTimeout, "job over the cap")
	require.True(t, Retryable(err), "queue timeout is not retryable: %v", err)
	require.Equal(t, 1, e.rt.Calls(fake.OpRun), "containers made (none for a job without a slot)")
	assert.Len(t, e.containers(), 1, "containers (none for a job without a slot)")
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
	require.Equal(t, 2, e.rt.Calls(fake.OpRun), "containers started with a cap of 2")
	cancel()
	wg.Wait()
	e.noContainers()
}
