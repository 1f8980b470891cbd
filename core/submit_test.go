package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// events collects what a Core reports to Config.OnEvent.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (ev *events) add(e Event) {
	ev.mu.Lock()
	ev.all = append(ev.all, e)
	ev.mu.Unlock()
}

// of returns the types of the events about job id, in order.
func (ev *events) of(id string) []EventType {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []EventType
	for _, e := range ev.all {
		if e.Job != nil && e.Job.ID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

func (ev *events) count(t EventType) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	n := 0
	for _, e := range ev.all {
		if e.Type == t {
			n++
		}
	}
	return n
}

// newSubmitEnv is an env whose Core reports its events to ev.
func newSubmitEnv(t *testing.T, mod func(*Config)) (*env, *events) {
	ev := &events{}
	e := newEnv(t, func(c *Config) {
		c.OnEvent = ev.add
		if mod != nil {
			mod(c)
		}
	})
	return e, ev
}

// submit submits j to c and fails the test on error.
func submit(t *testing.T, c *Core, j Job) JobRecord {
	t.Helper()
	rec, err := c.Submit(context.Background(), j, SubmitOptions{})
	require.NoError(t, err, "Submit(%q)", j.Cmd)
	require.Equal(t, JobQueued, rec.State, "state of a job just submitted")
	return rec
}

// waitJob waits for job id's end on c.
func waitJob(t *testing.T, c *Core, id string) JobRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec, err := c.WaitJob(ctx, id)
	require.NoError(t, err, "WaitJob(%s)", id)
	require.True(t, rec.State.Ended(), "WaitJob returned job %s in state %s", id, rec.State)
	return rec
}

// logs reads job id's whole output from c, by stream.
func logs(t *testing.T, c *Core, id string, follow bool) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	err := c.JobLogs(context.Background(), id, LogsOptions{Follow: follow}, func(ch LogChunk) error {
		if ch.Stream == Stderr {
			errb.Write(ch.Data)
		} else {
			out.Write(ch.Data)
		}
		return nil
	})
	require.NoError(t, err, "JobLogs(%s)", id)
	return out.String(), errb.String()
}

// runningContainer waits until job id's container runs and its start is
// recorded, and returns the container.
func (e *env) runningContainer(id string) runtime.Container {
	e.t.Helper()
	waitFor(e.t, "job "+id+"'s start to be recorded", func() bool {
		rec, err := e.core.GetJob(context.Background(), id)
		return err == nil && rec.State == JobRunning
	})
	var ctr runtime.Container
	waitFor(e.t, "job "+id+"'s container to run", func() bool {
		ctrs, err := e.rt.ListContainers(context.Background(), runtime.LabelFilter{LabelJob: id})
		if err != nil || len(ctrs) != 1 || ctrs[0].State != runtime.StateRunning {
			return false
		}
		ctr = ctrs[0]
		return true
	})
	return ctr
}

func TestSubmitRunsTheJobAndKeepsItsRecordAndOutput(t *testing.T) {
	e, ev := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("w1", "echo out; echo err >&2; exit 0"))
	assert.Equal(t, "w1", rec.Spec.WorkItem)
	assert.Equal(t, DefaultProject, rec.Spec.Project, "the spec is recorded normalized")

	done := waitJob(t, e.core, rec.ID)
	require.Equal(t, JobExited, done.State)
	require.NotNil(t, done.Result, "an ended job's result")
	assert.Equal(t, rec.ID, done.Result.JobID)
	assert.Equal(t, 0, done.Result.ExitCode)
	assert.True(t, done.Result.Commit.Committed, "a successful job of a work item is committed: %+v", done.Result.Commit)
	assert.False(t, done.Started.IsZero(), "start time recorded")
	assert.False(t, done.Ended.IsZero(), "end time recorded")
	assert.Empty(t, done.Error)

	stdout, stderr := logs(t, e.core, rec.ID, false)
	assert.Equal(t, "out\n", stdout)
	assert.Equal(t, "err\n", stderr)
	stdout, _ = logs(t, e.core, rec.ID, true)
	assert.Equal(t, "out\n", stdout, "following an ended job's output reads it all and returns")

	assert.Equal(t, []EventType{EventJobQueued, EventJobStarted, EventJobCommitting, EventJobExited}, ev.of(rec.ID))
	assert.Equal(t, 1, ev.count(EventSnapshotCommitted))
	e.noContainers()

	// The record outlives the Core.
	require.NoError(t, e.core.Close())
	c2 := e.open()
	got, err := c2.GetJob(context.Background(), rec.ID)
	require.NoError(t, err)
	assert.Equal(t, done.State, got.State)
	assert.Equal(t, done.Result.Commit, got.Result.Commit)
	list, err := c2.ListJobs(context.Background(), JobFilter{WorkItem: "w1"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, rec.ID, list[0].ID)
	stdout, _ = logs(t, c2, rec.ID, true)
	assert.Equal(t, "out\n", stdout, "output read by another Core")

	// The next job of the work item starts from the snapshot.
	rec2 := submit(t, c2, job("w1", "exit 0"))
	done2 := waitJob(t, c2, rec2.ID)
	assert.True(t, done2.Result.Hit, "the second job of the work item is warm")
}

func TestSubmitRefusesBadJobsAtOnce(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	_, err := e.core.Submit(context.Background(), Job{Cmd: []string{"true"}}, SubmitOptions{})
	require.ErrorIs(t, err, ErrInvalidJob, "a job without an image")
	_, err = e.core.Submit(context.Background(), Job{Runtime: "nope", Image: baseRef, Cmd: []string{"true"}}, SubmitOptions{})
	require.ErrorIs(t, err, ErrUnknownRuntime)
	assert.Equal(t, KindUnknownRuntime, KindOf(err))
	list, err := e.core.ListJobs(context.Background(), JobFilter{})
	require.NoError(t, err)
	assert.Empty(t, list, "a refused job leaves no record")
	_, err = e.core.GetJob(context.Background(), "jnope")
	require.ErrorIs(t, err, ErrJobNotFound)
	err = e.core.JobLogs(context.Background(), "jnope", LogsOptions{}, func(LogChunk) error { return nil })
	require.ErrorIs(t, err, ErrJobNotFound)
}

func TestSubmitWithTheSameIdempotencyKeyReturnsTheSameJob(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	opts := SubmitOptions{IdempotencyKey: "create-1"}
	a, err := e.core.Submit(context.Background(), job("", "exit 0"), opts)
	require.NoError(t, err)
	b, err := e.core.Submit(context.Background(), job("", "exit 0"), opts)
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID, "a retried create")
	waitJob(t, e.core, a.ID)
	c, err := e.core.Submit(context.Background(), job("", "exit 0"), opts)
	require.NoError(t, err)
	assert.Equal(t, a.ID, c.ID, "a retried create after the job ended")
	assert.Equal(t, JobExited, c.State)
	list, err := e.core.ListJobs(context.Background(), JobFilter{})
	require.NoError(t, err)
	assert.Len(t, list, 1, "jobs made by three creates with one key")
}

func TestCancelJobStopsARunningJobAndCommitsNothing(t *testing.T) {
	e, ev := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("w1", "echo started; sleep 3600"))
	e.runningContainer(rec.ID)
	_, err := e.core.CancelJob(context.Background(), rec.ID)
	require.NoError(t, err)
	done := waitJob(t, e.core, rec.ID)
	assert.Equal(t, JobCancelled, done.State)
	assert.True(t, done.Result.Cancelled)
	assert.Equal(t, NoCommitCancelled, done.Result.Commit.Reason)
	assert.Equal(t, KindCancelled, done.ErrorKind)
	assert.False(t, e.entry("w1").Found, "a cancelled job made a snapshot")
	assert.Equal(t, 0, ev.count(EventSnapshotCommitted))
	e.noContainers()
	// Cancelling an ended job changes nothing.
	again, err := e.core.CancelJob(context.Background(), rec.ID)
	require.NoError(t, err)
	assert.Equal(t, JobCancelled, again.State)
}

func TestCancelJobEndsAQueuedJob(t *testing.T) {
	e, _ := newSubmitEnv(t, func(c *Config) { c.MaxConcurrent = 1 })
	first := submit(t, e.core, job("", "sleep 3600"))
	e.runningContainer(first.ID)
	queued := submit(t, e.core, job("", "echo never"))
	got, err := e.core.GetJob(context.Background(), queued.ID)
	require.NoError(t, err)
	assert.Equal(t, JobQueued, got.State, "a job behind the only slot")
	_, err = e.core.CancelJob(context.Background(), queued.ID)
	require.NoError(t, err)
	done := waitJob(t, e.core, queued.ID)
	assert.Equal(t, JobCancelled, done.State)
	assert.True(t, done.Started.IsZero(), "a job cancelled in the queue never started")
	_, err = e.core.CancelJob(context.Background(), first.ID)
	require.NoError(t, err)
	waitJob(t, e.core, first.ID)
	e.noContainers()
}

func TestJobLogsFollowStreamsLiveAndExactBytes(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("", "echo one; sleep 3600"))
	e.runningContainer(rec.ID)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 16)
	followed := make(chan error, 1)
	go func() {
		followed <- e.core.JobLogs(ctx, rec.ID, LogsOptions{Follow: true}, func(ch LogChunk) error {
			got <- string(ch.Data)
			return nil
		})
	}()
	select {
	case s := <-got:
		assert.Equal(t, "one\n", s, "output written before the follow began")
	case <-time.After(time.Minute):
		require.FailNow(t, "no output followed within a minute")
	}
	_, err := e.core.CancelJob(context.Background(), rec.ID)
	require.NoError(t, err)
	select {
	case err := <-followed:
		require.NoError(t, err, "a follow returns once the job ended")
	case <-time.After(time.Minute):
		require.FailNow(t, "follow did not return within a minute of the job's end")
	}

	// Bytes that are not text, across frames, come back exactly.
	bin := submit(t, e.core, job("", "head -c 100000 /dev/urandom"))
	waitJob(t, e.core, bin.ID)
	stdout, _ := logs(t, e.core, bin.ID, true)
	assert.Len(t, stdout, 100000, "bytes of output kept")
}

func TestASlowLogReaderDoesNotHoldTheJob(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("", "head -c 300000 /dev/urandom; echo done >&2"))
	unblock := make(chan struct{})
	read := make(chan error, 1)
	go func() {
		read <- e.core.JobLogs(context.Background(), rec.ID, LogsOptions{Follow: true}, func(LogChunk) error {
			<-unblock
			return nil
		})
	}()
	done := waitJob(t, e.core, rec.ID) // ends while the reader is stuck on its first chunk
	assert.Equal(t, 0, done.Result.ExitCode)
	close(unblock)
	require.NoError(t, <-read)
}

func TestJobHistoryEvictsTheOldestRecordsAndTheirOutput(t *testing.T) {
	e, _ := newSubmitEnv(t, func(c *Config) { c.JobHistory = 2 })
	var ids []string
	for range 3 {
		rec := submit(t, e.core, job("", "echo hi"))
		waitJob(t, e.core, rec.ID)
		ids = append(ids, rec.ID)
		e.clk.Advance(time.Second)
	}
	_, err := e.core.GetJob(context.Background(), ids[0])
	require.ErrorIs(t, err, ErrJobNotFound, "the oldest record beyond the cap")
	_, err = os.Stat(logPath(e.core.sub.logs, ids[0]))
	require.ErrorIs(t, err, os.ErrNotExist, "the evicted job's output file")
	for _, id := range ids[1:] {
		_, err := e.core.GetJob(context.Background(), id)
		require.NoError(t, err, "a record within the cap")
	}
}

// detachAndRecover leaves e.core's running jobs as a killed berth serve
// would, and takes them over with a new Core.
func (e *env) detachAndRecover() (*Core, RecoverReport) {
	e.t.Helper()
	e.core.Detach()
	require.NoError(e.t, e.core.Close())
	c := e.open()
	e.core = c
	rep, err := c.Recover(context.Background())
	require.NoError(e.t, err, "Recover")
	return c, rep
}

func TestRecoverTakesOverARunningJobAndCommitsIt(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("w1", "echo before; sleep 1; echo after; touch /made"))
	ctr := e.runningContainer(rec.ID)
	c2, rep := e.detachAndRecover()
	assert.Equal(t, []string{rec.ID}, rep.Reattached)
	done := waitJob(t, c2, rec.ID)
	assert.Equal(t, JobExited, done.State)
	assert.Equal(t, 1, done.Reattached)
	assert.Equal(t, 0, done.Result.ExitCode)
	require.True(t, done.Result.Commit.Committed, "the job taken over is committed: %+v", done.Result.Commit)
	assert.Equal(t, 1, done.Result.Commit.Generation)
	stdout, _ := logs(t, c2, rec.ID, true)
	assert.Equal(t, "before\nafter\n", stdout, "the output from the job's start, once")
	en := e.entry("w1")
	require.True(t, en.Found)
	assert.Equal(t, 1, en.LastGeneration, "committed once")
	_, err := e.rt.InspectContainer(context.Background(), ctr.ID)
	require.ErrorIs(t, err, runtime.ErrNotFound, "the container taken over is removed")
	jobs, err := c2.st.Jobs(context.Background())
	require.NoError(t, err)
	assert.Empty(t, jobs, "job rows left")
}

func TestRecoverRecordsTheExitOfAJobThatEndedMeanwhile(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("w1", "sleep 3600"))
	ctr := e.runningContainer(rec.ID)
	e.core.Detach()
	require.NoError(t, e.core.Close())
	// It fails while no berth watches.
	require.NoError(t, e.rt.Stop(context.Background(), ctr.ID, runtime.StopOptions{Grace: time.Millisecond}))
	c2 := e.open()
	e.core = c2
	_, err := c2.Recover(context.Background())
	require.NoError(t, err)
	done := waitJob(t, c2, rec.ID)
	assert.Equal(t, JobExited, done.State)
	assert.NotEqual(t, 0, done.Result.ExitCode, "the exit recorded")
	assert.Equal(t, NoCommitExitCode, done.Result.Commit.Reason)
	assert.False(t, e.entry("w1").Found)
	e.noContainers()
}

func TestRecoverKeepsTheRecordedDeadline(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	j := job("w1", "sleep 3600")
	j.Timeout = time.Hour
	rec := submit(t, e.core, j)
	e.runningContainer(rec.ID)
	e.clk.Advance(2 * time.Hour) // past its deadline while no berth watched
	c2, _ := e.detachAndRecover()
	done := waitJob(t, c2, rec.ID)
	assert.True(t, done.Result.TimedOut, "a job past its recorded deadline is stopped as timed out")
	assert.Equal(t, NoCommitTimeout, done.Result.Commit.Reason)
	e.noContainers()
}

func TestRecoverDoesNotCommitOverANewerGeneration(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	rec := submit(t, e.core, job("w1", "sleep 1"))
	e.runningContainer(rec.ID)
	e.core.Detach()
	require.NoError(t, e.core.Close())
	// While no berth serve runs, another berth commits the work item.
	other := e.open()
	res, _ := e.run(other, job("w1", "exit 0"))
	require.True(t, res.Commit.Committed)
	c2 := e.open()
	e.core = c2
	_, err := c2.Recover(context.Background())
	require.NoError(t, err)
	done := waitJob(t, c2, rec.ID)
	assert.Equal(t, NoCommitSuperseded, done.Result.Commit.Reason)
	assert.Equal(t, 1, e.entry("w1").LastGeneration, "generations committed")
}

func TestDetachFailsQueuedJobsAndRecoverFailsJobsLeftUnstarted(t *testing.T) {
	e, ev := newSubmitEnv(t, func(c *Config) { c.MaxConcurrent = 1 })
	first := submit(t, e.core, job("", "sleep 3600"))
	e.runningContainer(first.ID)
	queued := submit(t, e.core, job("", "echo never"))
	e.core.Detach()
	got, err := e.core.GetJob(context.Background(), queued.ID)
	require.NoError(t, err)
	assert.Equal(t, JobFailed, got.State)
	assert.Equal(t, KindInterrupted, got.ErrorKind)
	assert.Contains(t, ev.of(queued.ID), EventJobExited)

	// A record left queued by a berth that died before the job's row.
	lost := JobRecord{ID: "jlost", State: JobQueued, Spec: specOf(job("", "true")), Created: e.clk.Now()}
	require.NoError(t, e.core.Close())
	c2 := e.open()
	e.core = c2
	addRecord(t, c2, lost)
	rep, err := c2.Recover(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{first.ID}, rep.Reattached)
	assert.Equal(t, []string{"jlost"}, rep.Failed, "first %s, queued %s", first.ID, queued.ID)
	got, err = c2.GetJob(context.Background(), "jlost")
	require.NoError(t, err)
	assert.Equal(t, JobFailed, got.State)
	assert.Equal(t, KindInterrupted, got.ErrorKind)
	_, err = c2.CancelJob(context.Background(), first.ID)
	require.NoError(t, err)
	assert.Equal(t, JobCancelled, waitJob(t, c2, first.ID).State)
	e.noContainers()
}

func TestRecoverClaimsTheStateDirectory(t *testing.T) {
	e, _ := newSubmitEnv(t, nil)
	_, err := e.core.Recover(context.Background())
	require.NoError(t, err)
	other := e.open()
	_, err = other.Recover(context.Background())
	require.ErrorIs(t, err, ErrStateBusy)
	require.NoError(t, e.core.Close())
	_, err = other.Recover(context.Background())
	require.NoError(t, err, "Recover once the owner closed")
}

func TestSweepLeavesASubmittedJobOfADeadOwnerForItsReattachGrace(t *testing.T) {
	e, _ := newSubmitEnv(t, func(c *Config) { c.ReattachGrace = time.Hour })
	rec := submit(t, e.core, job("w1", "sleep 3600"))
	ctr := e.runningContainer(rec.ID)
	e.core.Detach()
	require.NoError(t, e.core.Close())
	e.clk.Advance(10 * time.Minute) // past the orphan grace, within the reattach grace
	e.core = e.open()
	rep := e.sweep(nil, SweepOptions{})
	assert.Empty(t, rep.RemovedContainers, "a sweep reaped a submitted job's container within its reattach grace")
	e.clk.Advance(time.Hour)
	rep = e.sweep(nil, SweepOptions{})
	assert.Equal(t, []string{ctr.ID}, rep.RemovedContainers, "reaped once the reattach grace passed")
}

// addRecord stores rec as Submit would, behind the Core's back.
func addRecord(t *testing.T, c *Core, rec JobRecord) {
	t.Helper()
	data, err := json.Marshal(rec)
	require.NoError(t, err)
	_, _, err = c.st.AddRecord(context.Background(), store.Record{ID: rec.ID, State: string(rec.State),
		Project: rec.Spec.Project, WorkItem: rec.Spec.WorkItem, Created: rec.Created, Data: data})
	require.NoError(t, err)
}

// TestRecoverAfterAKilledOwner kills a serving process (kill -9) with a job
// running: its record and row are left, its lock files unlocked. The fake
// runs a container in the process that started it, so the container dies
// with it (exit 137): the next owner records that exit and commits
// nothing, removes the container and keeps the output written before.
func TestRecoverAfterAKilledOwner(t *testing.T) {
	fakeDir, stateDir := t.TempDir(), t.TempDir()
	clk := &clock{t: time.Now()} // the other process's fake uses the real clock
	rt := fake.New(fake.WithStateDir(fakeDir), fake.WithClock(clk.Now))
	t.Cleanup(func() { rt.Close() })
	e := &env{t: t, clk: clk, rt: rt}
	e.loadBase(baseRef, nil)
	e.cfg = Config{StateDir: stateDir, Runtimes: RuntimeList{{Name: "fake", Runtime: rt}}, Now: clk.Now,
		Policy: Policy{Enabled: true}, StopGrace: 20 * time.Millisecond}

	cmd, stdin, stdout := startHelper(t, "serve-job", "BERTH_FAKE="+fakeDir, "BERTH_STATE="+stateDir, "BERTH_ITEM=w")
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the serving helper's output")
	id := strings.TrimSpace(line)
	require.NoError(t, cmd.Process.Signal(os.Kill))
	cmd.Wait()

	e.core = e.open()
	rep, err := e.core.Recover(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{id}, rep.Reattached)
	done := waitJob(t, e.core, id)
	assert.Equal(t, JobExited, done.State)
	assert.Equal(t, 137, done.Result.ExitCode, "the exit of a container that died with its process")
	assert.Equal(t, NoCommitExitCode, done.Result.Commit.Reason)
	assert.Equal(t, 1, done.Reattached)
	stdout2, _ := logs(t, e.core, id, true)
	assert.Equal(t, "started\n", stdout2)
	e.noContainers()
	jobs, err := e.core.st.Jobs(context.Background())
	require.NoError(t, err)
	assert.Empty(t, jobs, "job rows left")
}

// brokenLogs is the fake whose first follow of a container's output breaks
// after some bytes, as when the driver process dies mid-job and is
// relaunched.
type brokenLogs struct {
	*fake.Runtime
	broke atomic.Bool
	after int
}

func (b *brokenLogs) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	if b.broke.Swap(true) {
		return b.Runtime.Logs(ctx, id, opts, stdout, stderr)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.Runtime.Logs(ctx, id, opts, &cutWriter{w: stdout, left: b.after, cut: cancel}, stderr)
	return errors.New("driver process exited")
}

// cutWriter writes through its first left bytes, then cuts.
type cutWriter struct {
	w    io.Writer
	left int
	cut  func()
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.w.Write(p[:c.left])
		c.left = 0
		c.cut()
		return 0, errors.New("cut")
	}
	c.left -= len(p)
	return c.w.Write(p)
}

func TestABrokenOutputFollowResumesWithoutLossOrRepeat(t *testing.T) {
	broken := &brokenLogs{after: 4}
	e := newEnv(t, func(c *Config) {
		broken.Runtime = c.Runtimes.(RuntimeList)[0].Runtime.(*fake.Runtime)
		c.Runtimes = RuntimeList{{Name: "fake", Runtime: broken}}
	})
	res, out := e.run(nil, job("w1", "echo 0123456789; sleep 0.2; echo end"))
	assert.True(t, broken.broke.Load(), "the first follow was broken")
	assert.Equal(t, "0123456789\nend\n", out)
	assert.Equal(t, 0, res.ExitCode)
	assert.True(t, res.Commit.Committed)
}

// slowCommit is the fake whose commits wait for release.
type slowCommit struct {
	*fake.Runtime
	release chan struct{}
}

func (s *slowCommit) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return runtime.Image{}, ctx.Err()
	}
	return s.Runtime.Commit(ctx, id, opts)
}

// TestTheCommitIsOffTheJobsWay: a submitted job's exit code and output are
// there as soon as its container exited (WaitJobExit, EventJobCommitting,
// the record's Exited and Commit.Pending) while its commit runs; the next
// job of the work item waits for the commit and starts from it; the job
// ends once the commit does.
func TestTheCommitIsOffTheJobsWay(t *testing.T) {
	slow := &slowCommit{release: make(chan struct{})}
	ev := &events{}
	e := newEnv(t, func(c *Config) {
		slow.Runtime = c.Runtimes.(RuntimeList)[0].Runtime.(*fake.Runtime)
		c.Runtimes = RuntimeList{{Name: "fake", Runtime: slow}}
		c.OnEvent = ev.add
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first := submit(t, e.core, job("w1", "echo out; echo made > /work/f"))
	exited, err := e.core.WaitJobExit(ctx, first.ID)
	require.NoError(t, err, "WaitJobExit")
	assert.Equal(t, JobRunning, exited.State, "the job runs on while it commits")
	assert.False(t, exited.Exited.IsZero(), "the exit's time")
	require.NotNil(t, exited.Result, "the result at the exit")
	assert.Equal(t, 0, exited.Result.ExitCode)
	assert.True(t, exited.Result.Commit.Pending, "the commit is pending: %+v", exited.Result.Commit)
	assert.Equal(t, []EventType{EventJobQueued, EventJobStarted, EventJobCommitting}, ev.of(first.ID))
	stdout, _ := logs(t, e.core, first.ID, true)
	assert.Equal(t, "out\n", stdout, "the whole output, while the commit runs")
	got, err := e.core.GetJob(ctx, first.ID)
	require.NoError(t, err)
	assert.True(t, got.Result.Commit.Pending, "GetJob while the commit runs: %+v", got.Result)

	next := submit(t, e.core, job("w1", "cat /work/f; echo again >> /work/f"))
	close(slow.release)
	done := waitJob(t, e.core, first.ID)
	assert.Equal(t, JobExited, done.State)
	assert.True(t, done.Result.Commit.Committed, "committed: %+v", done.Result.Commit)
	assert.False(t, done.Result.Commit.Pending, "no longer pending")
	assert.Equal(t, []EventType{EventJobQueued, EventJobStarted, EventJobCommitting, EventJobExited}, ev.of(first.ID))
	after := waitJob(t, e.core, next.ID)
	require.NotNil(t, after.Result)
	assert.True(t, after.Result.Hit, "the next job of the work item started from the commit: %+v", after.Result)
	stdout, _ = logs(t, e.core, next.ID, false)
	assert.Equal(t, "made\n", stdout)

	// A job that commits nothing is told once, at its end.
	plain := submit(t, e.core, job("", "echo no work item"))
	rec, err := e.core.WaitJobExit(ctx, plain.ID)
	require.NoError(t, err)
	assert.Equal(t, JobExited, rec.State, "WaitJobExit of a job without commit waits for its end")
	assert.Equal(t, []EventType{EventJobQueued, EventJobStarted, EventJobExited}, ev.of(plain.ID))
	e.noContainers()
}
