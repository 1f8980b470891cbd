package core

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
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
		if !errors.Is(err, ErrInvalidJob) || !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidJob and runtime.ErrInvalidArgument", name, err)
		}
	}
	if e.rt.Calls(fake.OpRun) != 0 {
		t.Fatal("a container was made for an invalid job")
	}
	if jobs, _ := e.core.st.Jobs(context.Background()); len(jobs) != 0 {
		t.Fatal("state written for an invalid job")
	}
	if got := e.core.Counters()[MetricJobs]; got != 0 {
		t.Fatalf("invalid jobs counted: %v", got)
	}
}

func TestBerthFailuresAreTyped(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	j := job("w", "true")
	j.Runtime = "nope"
	if _, err := e.core.Run(ctx, j); !errors.Is(err, ErrUnknownRuntime) {
		t.Fatalf("unknown runtime: %v", err)
	}
	j = job("w", "true")
	j.Image = "berth-test/missing:1"
	if _, err := e.core.Run(ctx, j); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("missing base image: %v", err)
	}
	e.rt.FailNth(fake.OpInspectImage, 0, runtime.ErrUnavailable)
	_, err := e.core.Run(ctx, job("w", "true"))
	if !errors.Is(err, runtime.ErrUnavailable) || !Retryable(err) {
		t.Fatalf("engine down: %v, want retryable ErrUnavailable", err)
	}
	e.rt.ClearFaults()
	if e.rt.Calls(fake.OpRun) != 0 {
		t.Fatal("containers made for failed jobs")
	}
	if _, err := Open(ctx, Config{Runtimes: e.cfg.Runtimes}); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Fatalf("Open without state dir: %v", err)
	}
	if res, _ := e.run(nil, job("w", "exit 7")); res.ExitCode != 7 {
		t.Fatalf("a failing job is a result, not an error: %+v", res)
	}
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
		if got[k] != v || rec.vals[k] != v {
			t.Fatalf("%s: Counters %v, Metrics %v, want %v", k, got[k], rec.vals[k], v)
		}
	}
	if !strings.Contains(logs.String(), `"job":"`+res.JobID+`"`) {
		t.Fatalf("no structured log line names job %s", res.JobID)
	}
	if res.Durations.Total <= 0 || res.Durations.Total < res.Durations.Run {
		t.Fatalf("durations not filled in: %+v", res.Durations)
	}
}

func TestOutputStreamsToTheCaller(t *testing.T) {
	e := newEnv(t, nil)
	var out, errOut bytes.Buffer
	j := job("", "echo out; echo err >&2")
	j.Stdout, j.Stderr = &out, &errOut
	if _, err := e.core.Run(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
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
	if !errors.Is(got.err, context.Canceled) || !got.res.Cancelled {
		t.Fatalf("Run cancelled while its runtime launches: cancelled=%v, %v; want context.Canceled", got.res.Cancelled, got.err)
	}
	if jobs, _ := c.st.Jobs(context.Background()); len(jobs) != 0 {
		t.Fatalf("job rows left: %+v", jobs)
	}
	close(set.release)
	if _, err := c.Run(context.Background(), job("w", "true")); err != nil {
		t.Fatalf("Run once the runtime is there: %v", err)
	}
}

func TestFailedRuntimeLookupEndsTheWaitForTheWorkItem(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WorkItemTimeout = time.Hour })
	stop := e.startBlocking(nil, job("w", "sleep 3600"))
	defer stop()
	off := false
	j := job("w", "true")
	j.Runtime, j.Snapshot = "nope", &off
	if _, err := e.core.Run(context.Background(), j); !errors.Is(err, ErrUnknownRuntime) {
		t.Fatalf("unknown runtime behind a busy work item: %v, want ErrUnknownRuntime at once", err)
	}
	if jobs, _ := e.core.st.Jobs(context.Background()); len(jobs) != 1 {
		t.Fatalf("job rows %+v, want only the running one", jobs)
	}
}

func TestMissingBaseImageWithoutSnapshots(t *testing.T) {
	e := newEnv(t, nil)
	j := job("", "true")
	j.Image = "berth-test/missing:1"
	_, err := e.core.Run(context.Background(), j)
	if !errors.Is(err, runtime.ErrNotFound) || !strings.Contains(err.Error(), `base image "berth-test/missing:1"`) {
		t.Fatalf("missing base image, no work item: %v; want ErrNotFound naming the base image", err)
	}
	if n := len(e.containers()); n != 0 {
		t.Fatalf("%d containers left", n)
	}
	if jobs, _ := e.core.st.Jobs(context.Background()); len(jobs) != 0 {
		t.Fatalf("job rows left: %+v", jobs)
	}
}
