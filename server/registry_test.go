package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// What a core sharing its snapshots through a registry (core.Config.Registry)
// adds to its results, faked: the fake runtime has no registry here.
const (
	sharedDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	sharedRef    = "registry.example:5000/berth/snapshots@" + sharedDigest
	pushFailure  = "push registry.example:5000/berth/snapshots: engine unavailable"
)

// sharedCore is a server.Core whose job results and sweep reports carry
// what the registry would add: the job of work item "pulled" ran on a
// snapshot pulled from the registry and its commit was pushed; that of
// "pull-failed" could not pull the newer snapshot and its push failed; a
// sweep (but a dry run) evicted a shared snapshot.
type sharedCore struct{ server.Core }

func (c sharedCore) share(rec core.JobRecord) core.JobRecord {
	if rec.Result == nil {
		return rec
	}
	res := *rec.Result
	switch res.WorkItem {
	case "pulled":
		res.Hit, res.Reason, res.Pulled = true, core.ReasonHit, true
		res.Commit.Digest = sharedDigest
	case "pull-failed":
		res.Hit, res.Reason = false, core.ReasonPullFailed
		res.Commit.PushError = pushFailure
	}
	rec.Result = &res
	return rec
}

func (c sharedCore) GetJob(ctx context.Context, id string) (core.JobRecord, error) {
	rec, err := c.Core.GetJob(ctx, id)
	return c.share(rec), err
}

func (c sharedCore) WaitJob(ctx context.Context, id string) (core.JobRecord, error) {
	rec, err := c.Core.WaitJob(ctx, id)
	return c.share(rec), err
}

func (c sharedCore) ListJobs(ctx context.Context, f core.JobFilter) ([]core.JobRecord, error) {
	recs, err := c.Core.ListJobs(ctx, f)
	for i := range recs {
		recs[i] = c.share(recs[i])
	}
	return recs, err
}

func (c sharedCore) Sweep(ctx context.Context, opts core.SweepOptions) (core.SweepReport, error) {
	rep, err := c.Core.Sweep(ctx, opts)
	if err == nil && !opts.DryRun {
		rep.EvictedShared = []string{sharedRef}
	}
	return rep, err
}

// getJSON answers method path (checked against the document) as a JSON object.
func (e *env) getJSON(method, path string) map[string]any {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, nil)
	require.NoError(e.t, err)
	resp, err := e.check.Client(e.t, nil).Do(req)
	require.NoError(e.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.Equal(e.t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, b)
	var out map[string]any
	require.NoError(e.t, json.Unmarshal(b, &out), "%s", b)
	return out
}

// A job's pulled and its commit's digest and push_error, set by the core,
// reach the API's JSON under these names, and the Go client's result.
func TestResultOfASharedSnapshot(t *testing.T) {
	e := newEnv(t, setup{wrap: func(sc server.Core) server.Core { return sharedCore{sc} }})
	pulled := e.wait(e.create(sh("pulled", "echo x > /f")).Id)
	failed := e.wait(e.create(sh("pull-failed", "echo x > /f")).Id)
	plain := e.wait(e.create(sh("plain", "echo x > /f")).Id)

	j := e.getJSON("GET", "/v1/jobs/"+pulled.Id)
	assert.Equal(t, true, j["pulled"])
	assert.Equal(t, "hit", j["snapshot_reason"])
	commit, _ := j["commit"].(map[string]any)
	require.NotNil(t, commit, "the job's commit: %v", j)
	assert.Equal(t, true, commit["committed"])
	assert.Equal(t, sharedDigest, commit["digest"])
	assert.NotContains(t, commit, "push_error")

	j = e.getJSON("GET", "/v1/jobs/"+failed.Id)
	assert.NotContains(t, j, "pulled", "pulled is absent when false")
	assert.Equal(t, false, j["snapshot_hit"])
	assert.Equal(t, "pull-failed", j["snapshot_reason"])
	commit, _ = j["commit"].(map[string]any)
	require.NotNil(t, commit, "the job's commit: %v", j)
	assert.Equal(t, pushFailure, commit["push_error"])
	assert.NotContains(t, commit, "digest")

	j = e.getJSON("GET", "/v1/jobs/"+plain.Id)
	assert.NotContains(t, j, "pulled", "a job without a registry")
	commit, _ = j["commit"].(map[string]any)
	require.NotNil(t, commit, "the job's commit: %v", j)
	assert.NotContains(t, commit, "digest")
	assert.NotContains(t, commit, "push_error")

	// The Go client's result, waited for and listed.
	res, ok := pulled.Result()
	require.True(t, ok)
	assert.True(t, res.Pulled)
	assert.Equal(t, sharedDigest, res.Commit.Digest)
	assert.Empty(t, res.Commit.PushError)
	res, ok = failed.Result()
	require.True(t, ok)
	assert.False(t, res.Pulled)
	assert.Equal(t, core.ReasonPullFailed, res.Reason)
	assert.Equal(t, pushFailure, res.Commit.PushError)
	list, err := e.c.ListJobs(context.Background(), client.ListOptions{WorkItem: "pulled"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	res, ok = list[0].Result()
	require.True(t, ok)
	assert.True(t, res.Pulled)
	assert.Equal(t, sharedDigest, res.Commit.Digest)
}

// A sweep's evicted_shared, set by the core, reaches the API's JSON and
// the Go client's report; it is absent when the sweep evicted no shared
// snapshot.
func TestSweepReportOfSharedSnapshots(t *testing.T) {
	e := newEnv(t, setup{wrap: func(sc server.Core) server.Core { return sharedCore{sc} }})
	rep := e.getJSON("POST", "/v1/gc")
	assert.Equal(t, []any{sharedRef}, rep["evicted_shared"])
	dry := e.getJSON("POST", "/v1/gc?dry_run=true")
	assert.NotContains(t, dry, "evicted_shared", "absent when none")

	got, err := e.c.GC(context.Background(), core.SweepOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{sharedRef}, got.EvictedShared)
	got, err = e.c.GC(context.Background(), core.SweepOptions{DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, got.EvictedShared)
}
