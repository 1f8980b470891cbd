package core

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInvalidJobsLeaveNothingBehind(t *testing.T) {
	e := newEnv(t, nil)
	ok := job("w", "true")
	for name, mod := range map[string]func(*Job){
		"no image":         func(j *Job) { j.Image = "" },
		"no command":       func(j *Job) { j.Cmd = nil },
		"bad env":          func(j *Job) { j.Env = []string{"NOEQUALS"} },
		"bad secret env":   func(j *Job) { j.SecretEnv = []string{"=x"} },
		"negative limit":   func(j *Job) { j.MemoryBytes = -1 },
		"negative time":    func(j *Job) { j.Timeout = -time.Second },
		"reserved label":   func(j *Job) { j.Labels = map[string]string{LabelJob: "x"} },
		"invalid UTF-8":    func(j *Job) { j.WorkItem = "\xff" },
		"NUL in project":   func(j *Job) { j.Project = "a\x00b" },
		"negative NanoCPU": func(j *Job) { j.NanoCPUs = -5 },
	} {
		j := ok
		mod(&j)
		_, err := e.core.Run(context.Background(), j)
		assert.ErrorIs(t, err, ErrInvalidJob, name)
		assert.ErrorIs(t, err, runtime.ErrInvalidArgument, name)
	}
	require.Zero(t, e.rt.Calls(fake.OpRun), "containers made for invalid jobs")
	jobs, _ := e.core.st.Jobs(context.Background())
	require.Empty(t, jobs, "state written for an invalid job")
	assert.Zero(t, e.core.Counters()[MetricJobs], "invalid jobs counted")
}

func TestBerthFailuresAreTyped(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	j := job("w", "true")
	j.Runtime = "nope"
	_, err := e.core.Run(ctx, j)
	require.ErrorIs(t, err, ErrUnknownRuntime, "unknown runtime")
	j = job("w", "true")
	j.Image = "berth-test/missing:1"
	_, err = e.core.Run(ctx, j)
	require.ErrorIs(t, err, runtime.ErrNotFound, "missing base image")
	e.rt.FailNth(fake.OpInspectImage, 0, runtime.ErrUnavailable)
	_, err = e.core.Run(ctx, job("w", "true"))
	require.ErrorIs(t, err, runtime.ErrUnavailable, "engine down")
	require.True(t, Retryable(err), "engine down is not retryable: %v", err)
	e.rt.ClearFaults()
	require.Zero(t, e.rt.Calls(fake.OpRun), "containers made for failed jobs")
	_, err = Open(ctx, Config{Runtimes: e.cfg.Runtimes})
	require.ErrorIs(t, err, runtime.ErrInvalidArgument, "Open without state dir")
	res, _ := e.run(nil, job("w", "exit 7"))
	assert.Equal(t, 7, res.ExitCode, "a failing job is a result, not an error: %+v", res)
}

// recorder is a Metrics that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	vals map[string]float64
}

func (r *recorder) Add(name string, delta float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if delta < 0 {
		panic("counters only go up")
	}
	r.vals[name] += delta
}

func TestMetricsAndLogs(t *testing.T) {
	rec := &recorder{vals: map[string]float64{}}
	var logs syncBuffer
	e := newEnv(t, func(c *Config) {
		c.Metrics = rec
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	e.run(nil, job("w", "true"))
	res, _ := e.run(nil, job("w", "true"))
	e.rt.FailNth(fake.OpCommit, e.rt.Calls(fake.OpCommit)+1, runtime.ErrUnavailable)
	e.run(nil, job("w", "true"))
	want := map[string]float64{MetricJobs: 3, MetricHits: 2, MetricMisses: 1, MetricCommits: 2, MetricCommitFailures: 1}
	got := e.core.Counters()
	for k, v := range want {
		require.Equal(t, v, got[k], "Counters[%s]", k)
		require.Equal(t, v, rec.vals[k], "Metrics[%s]", k)
	}
	require.Contains(t, logs.String(), `"job":"`+res.JobID+`"`, "no structured log line names the job")
	require.Positive(t, res.Durations.Total, "total duration: %+v", res.Durations)
	assert.GreaterOrEqual(t, res.Durations.Total, res.Durations.Run, "total duration below the run's: %+v", res.Durations)
}

func TestOutputStreamsToTheCaller(t *testing.T) {
	e := newEnv(t, nil)
	var out, errOut bytes.Buffer
	j := job("", "echo out; echo err >&2")
	j.Stdout, j.Stderr = &out, &errOut
	_, err := e.core.Run(context.Background(), j)
	require.NoError(t, err)
	assert.Equal(t, "out\n", out.String(), "stdout")
	assert.Equal(t, "err\n", errOut.String(), "stderr")
}

// slowSet is a RuntimeSet whose lookups wait until release is closed, like
// a driver that is still launching.
type slowSet struct {
	RuntimeList
	release chan struct{}
}

func (s slowSet) Runtime(ctx context.Context, name string) (runtime.Runtime, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.RuntimeList.Runtime(ctx, name)
}

func TestCancelEndsTheWaitForTheRuntime(t *testing.T) {
	e := newEnv(t, nil)
	set := slowSet{RuntimeList: e.cfg.Runtimes.(RuntimeList), release: make(chan struct{})}
	e.cfg.Runtimes = set
	c := e.open()
	ctx, cancel := context.WithCancel(context.Background())
	type ran struct {
		res Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := c.Run(ctx, job("w", "true"))
		done <- ran{res, err}
	}()
	cancel()
	got := <-done
	require.ErrorIs(t, got.err, context.Canceled, "Run cancelled while its runtime launches")
	require.True(t, got.res.Cancelled, "Run cancelled while its runtime launches: result not cancelled")
	jobs, _ := c.st.Jobs(context.Background())
	require.Empty(t, jobs, "job rows left")
	close(set.release)
	_, err := c.Run(context.Background(), job("w", "true"))
	assert.NoError(t, err, "Run once the runtime is there")
}

func TestFailedRuntimeLookupEndsTheWaitForTheWorkItem(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WorkItemTimeout = time.Hour })
	stop := e.startBlocking(nil, job("w", "sleep 3600"))
	defer stop()
	off := false
	j := job("w", "true")
	j.Runtime, j.Snapshot = "nope", &off
	_, err := e.core.Run(context.Background(), j)
	require.ErrorIs(t, err, ErrUnknownRuntime, "unknown runtime behind a busy work item")
	jobs, _ := e.core.st.Jobs(context.Background())
	assert.Len(t, jobs, 1, "job rows (want only the running one)")
}

func TestMissingBaseImageWithoutSnapshots(t *testing.T) {
	e := newEnv(t, nil)
	j := job("", "true")
	j.Image = "berth-test/missing:1"
	_, err := e.core.Run(context.Background(), j)
	require.ErrorIs(t, err, runtime.ErrNotFound, "missing base image, no work item")
	require.ErrorContains(t, err, `base image "berth-test/missing:1"`, "the error names the base image")
	require.Empty(t, e.containers(), "containers left")
	jobs, _ := e.core.st.Jobs(context.Background())
	assert.Empty(t, jobs, "job rows left")
}

// TestDurationsCoverTheRun: the run's duration runs from the container's
// start to its end: it covers the job's sleep (but for the moment between
// the container's start and Run's return), and lies within the total.
func TestDurationsCoverTheRun(t *testing.T) {
	e := newEnv(t, nil)
	res, _ := e.run(nil, job("w", "sleep 0.1"))
	assert.GreaterOrEqual(t, res.Durations.Run, 50*time.Millisecond, "run duration of a job that sleeps 0.1s: %+v", res.Durations)
	assert.GreaterOrEqual(t, res.Durations.Total, res.Durations.Run+res.Durations.Commit, "total below run and commit: %+v", res.Durations)
}
