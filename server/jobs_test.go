package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

func TestCreateWaitGetList(t *testing.T) {
	e := newEnv(t, setup{})
	created := e.create(sh("w1", "echo out; echo err >&2; exit 3"))
	require.NotEmpty(t, created.Id)
	assert.Contains(t, []api.JobState{api.JobStateQueued, api.JobStateRunning}, created.State, "state of a job just created")
	assert.Equal(t, baseRef, created.Spec.Image, "the image defaults to the server's job default")
	assert.Equal(t, core.DefaultProject, created.Spec.Project)
	_, ended := created.Result()
	assert.False(t, ended, "a live job has no result")

	done := e.wait(created.Id)
	assert.Equal(t, api.JobStateExited, done.State)
	require.NotNil(t, done.Ended, "ended time of an ended job")
	res, ok := done.Result()
	require.True(t, ok, "an ended job has a result")
	assert.Equal(t, 3, res.ExitCode)
	assert.Equal(t, created.Id, res.JobID)
	assert.Equal(t, "w1", res.WorkItem)
	assert.False(t, res.Commit.Committed, "a job that exits 3 is not committed")
	assert.Equal(t, core.NoCommitExitCode, res.Commit.Reason)
	assert.NoError(t, done.Err(), "a job that ran has no error")

	got, err := e.c.GetJob(context.Background(), created.Id)
	require.NoError(t, err)
	assert.Equal(t, done.Job, got.Job, "GET answers what the wait answered")

	for _, opts := range []client.ListOptions{{}, {WorkItem: "w1"}, {State: core.JobExited}, {Project: core.DefaultProject, Limit: 1}} {
		list, err := e.c.ListJobs(context.Background(), opts)
		require.NoError(t, err, "ListJobs(%+v)", opts)
		require.Len(t, list, 1, "ListJobs(%+v)", opts)
		assert.Equal(t, created.Id, list[0].Id)
	}
	for _, opts := range []client.ListOptions{{WorkItem: "w2"}, {State: core.JobRunning}, {Project: "other"}} {
		list, err := e.c.ListJobs(context.Background(), opts)
		require.NoError(t, err, "ListJobs(%+v)", opts)
		assert.Empty(t, list, "ListJobs(%+v)", opts)
	}
}

// The result of an ended job is the core's, field for field: the command
// prints the same --json in process and through the daemon.
func TestJobResultIsTheCoresResult(t *testing.T) {
	e := newEnv(t, setup{})
	j := e.wait(e.create(sh("w1", "echo hi; echo made > /work/f")).Id)
	res, ok := j.Result()
	require.True(t, ok)
	rec, err := e.core.GetJob(context.Background(), j.Id)
	require.NoError(t, err)
	require.NotNil(t, rec.Result)
	want, err := json.Marshal(*rec.Result)
	require.NoError(t, err)
	got, err := json.Marshal(res)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "the client's result and the core's")
	assert.True(t, res.Commit.Committed, "a job of a work item that exits 0 is committed")
}

func TestCreateTakesEveryField(t *testing.T) {
	e := newEnv(t, setup{})
	req := sh("w1", `echo "$A $S"`)
	project, timeout, memory, cpus, snap := "p1", "30s", "512m", 1.5, false
	req.Project, req.Timeout, req.Memory, req.Cpus, req.Snapshot = &project, &timeout, &memory, &cpus, &snap
	req.Env = map[string]string{"A": "a"}
	req.SecretEnv = map[string]string{"S": "the-secret-value"}
	req.Labels = map[string]string{"team": "x"}
	created := e.create(req)
	sp := created.Spec
	assert.Equal(t, "p1", sp.Project)
	assert.Equal(t, "w1", *sp.WorkItem)
	assert.Equal(t, map[string]string{"A": "a"}, sp.Env)
	assert.Equal(t, []string{"S"}, sp.SecretEnvKeys, "only the secret's key is recorded")
	assert.Equal(t, map[string]string{"team": "x"}, sp.Labels)
	require.NotNil(t, sp.Timeout)
	assert.Equal(t, "30s", *sp.Timeout)
	require.NotNil(t, sp.MemoryBytes)
	assert.Equal(t, int64(512<<20), *sp.MemoryBytes)
	require.NotNil(t, sp.Cpus)
	assert.InDelta(t, 1.5, *sp.Cpus, 1e-9)
	require.NotNil(t, sp.Snapshot)
	assert.False(t, *sp.Snapshot)

	done := e.wait(created.Id)
	stdout, _ := e.logs(done.Id, false)
	assert.Equal(t, "a the-secret-value\n", string(stdout), "the job sees its env and secret env")
	res, _ := done.Result()
	assert.Equal(t, core.NoCommitDisabled, res.Commit.Reason, "snapshot: false")

	// The secret's value is in no answer about the job.
	for _, path := range []string{"/v1/jobs/" + done.Id, "/v1/jobs"} {
		resp, err := e.check.Client(t, nil).Get(e.ts.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.NotContains(t, string(body), "the-secret-value", "GET %s", path)
	}
}

func TestIdempotencyKeyReturnsTheSameJob(t *testing.T) {
	e := newEnv(t, setup{})
	first, err := e.c.CreateJob(context.Background(), sh("", "echo once"), "key-1")
	require.NoError(t, err)
	again, err := e.c.CreateJob(context.Background(), sh("", "echo once"), "key-1")
	require.NoError(t, err)
	assert.Equal(t, first.Id, again.Id, "a retried create returns the first job")
	other, err := e.c.CreateJob(context.Background(), sh("", "echo once"), "key-2")
	require.NoError(t, err)
	assert.NotEqual(t, first.Id, other.Id, "another key, another job")
	e.wait(first.Id)
	e.wait(other.Id)
	list, err := e.c.ListJobs(context.Background(), client.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list, 2, "jobs made by three creates, two of them with the same key")
}

func TestCancelARunningJob(t *testing.T) {
	e := newEnv(t, setup{})
	j := e.create(sh("w1", "sleep 3600"))
	e.running(j.Id)
	_, err := e.c.CancelJob(context.Background(), j.Id)
	require.NoError(t, err)
	done := e.wait(j.Id)
	assert.Equal(t, api.JobStateCancelled, done.State)
	res, ok := done.Result()
	require.True(t, ok)
	assert.True(t, res.Cancelled)
	assert.False(t, res.Commit.Committed, "a cancelled job is not committed")

	again, err := e.c.CancelJob(context.Background(), j.Id)
	require.NoError(t, err, "cancelling an ended job")
	assert.Equal(t, api.JobStateCancelled, again.State, "cancelling an ended job changes nothing")
}

func TestWaitAnswersALiveJobWhenTimeIsUp(t *testing.T) {
	e := newEnv(t, setup{})
	j := e.create(sh("", "sleep 3600"))
	e.running(j.Id)
	defer e.c.CancelJob(context.Background(), j.Id) //nolint:errcheck // the test is over

	resp, err := e.check.Client(t, nil).Get(e.ts.URL + "/v1/jobs/" + j.Id + "/wait?timeout=20ms")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a wait whose time is up")
	var got api.Job
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Equal(t, api.JobStateRunning, got.State)

	last, err := e.c.WaitJob(context.Background(), j.Id, 300*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded, "WaitJob past its timeout")
	if assert.NotNil(t, last, "the job as last seen") {
		assert.Equal(t, api.JobStateRunning, last.State)
	}
}

// The output comes back exactly, while the job runs and after it ended,
// also bytes that are not UTF-8.
func TestLogsFollowAndAfterTheEnd(t *testing.T) {
	e := newEnv(t, setup{})
	j := e.create(sh("", `printf 'one\n'; printf 'a\377\376b\n'; printf 'caf\303\251\n' >&2; sleep 3600`))
	e.running(j.Id)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string, 16)
	followed := make(chan error, 1)
	go func() {
		followed <- e.c.Logs(ctx, j.Id, true, func(s core.Stream, data []byte) error {
			lines <- s.String() + ":" + string(data)
			return nil
		})
	}()
	var got strings.Builder
	require.Eventually(t, func() bool {
		for {
			select {
			case l := <-lines:
				got.WriteString(l)
			default:
				return strings.Contains(got.String(), "caf\xc3\xa9") && strings.Contains(got.String(), "a\xff\xfeb")
			}
		}
	}, time.Minute, 10*time.Millisecond, "the output followed")
	_, err := e.c.CancelJob(context.Background(), j.Id)
	require.NoError(t, err)
	select {
	case err := <-followed:
		require.NoError(t, err, "a follow ends when the job ended")
	case <-time.After(time.Minute):
		t.Fatal("the follow did not end within a minute of the job's end")
	}

	e.wait(j.Id)
	for _, follow := range []bool{false, true} {
		stdout, stderr := e.logs(j.Id, follow)
		assert.Equal(t, []byte("one\na\xff\xfeb\n"), stdout, "stdout after the end (follow %v)", follow)
		assert.Equal(t, []byte("caf\xc3\xa9\n"), stderr, "stderr after the end (follow %v)", follow)
	}
}

func TestLogsOfAnUnknownJob(t *testing.T) {
	e := newEnv(t, setup{})
	err := e.c.Logs(context.Background(), "nope", false, func(core.Stream, []byte) error { return nil })
	require.ErrorIs(t, err, core.ErrJobNotFound)
}

// heldCommit is the fake whose commits wait for release.
type heldCommit struct {
	*fake.Runtime
	release chan struct{}
}

func (h *heldCommit) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	select {
	case <-h.release:
	case <-ctx.Done():
		return runtime.Image{}, ctx.Err()
	}
	return h.Runtime.Commit(ctx, id, opts)
}

// TestWaitForTheExitWhileTheCommitRuns: GET /wait?for=exit answers once
// the job's container exited, while its commit runs (running, exited set,
// its result there with commit.pending), and job.committing is told; the
// plain wait answers once the commit is done.
func TestWaitForTheExitWhileTheCommitRuns(t *testing.T) {
	held := &heldCommit{release: make(chan struct{})}
	e := newEnv(t, setup{core: func(c *core.Config) {
		held.Runtime = c.Runtimes.(core.RuntimeList)[0].Runtime.(*fake.Runtime)
		c.Runtimes.(core.RuntimeList)[0].Runtime = held
	}})
	col := e.follow("unknown")
	ctx := context.Background()
	j := e.create(sh("w1", "echo out; echo made > /work/f"))
	exited, err := e.c.WaitJobExit(ctx, j.Id, time.Minute)
	require.NoError(t, err, "WaitJobExit")
	assert.Equal(t, api.JobStateRunning, exited.State, "the job runs on while it commits")
	require.NotNil(t, exited.Exited, "the exit's time")
	res, ok := exited.Result()
	require.True(t, ok, "a result at the exit")
	assert.Equal(t, 0, res.ExitCode)
	assert.True(t, res.Commit.Pending, "the commit is pending: %+v", res.Commit)
	stdout, _ := e.logs(j.Id, true)
	assert.Equal(t, "out\n", string(stdout), "the output, while the commit runs")

	resp, err := e.check.Client(t, nil).Get(e.ts.URL + "/v1/jobs/" + j.Id + "/wait?for=commit&timeout=1s")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 400, resp.StatusCode, "for=commit")

	close(held.release)
	done := e.wait(j.Id)
	res, ok = done.Result()
	require.True(t, ok)
	assert.True(t, res.Commit.Committed, "committed: %+v", res.Commit)
	assert.False(t, res.Commit.Pending)
	require.Eventually(t, func() bool { return len(col.of(j.Id)) == 4 }, time.Minute, 10*time.Millisecond, "the job's four events")
	assert.Equal(t, []string{string(core.EventJobQueued), string(core.EventJobStarted), string(core.EventJobCommitting),
		string(core.EventJobExited)}, col.of(j.Id))
}
