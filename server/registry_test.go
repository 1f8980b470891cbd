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
	"github.com/berth-dev/berth/server/internal/sharedtest"
)

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
	e := newEnv(t, setup{wrap: func(sc server.Core) server.Core { return sharedtest.Core{Core: sc} }})
	pulled := e.wait(e.create(sh("pulled", "echo x > /f")).Id)
	failed := e.wait(e.create(sh("pull-failed", "echo x > /f")).Id)
	plain := e.wait(e.create(sh("plain", "echo x > /f")).Id)

	j := e.getJSON("GET", "/v1/jobs/"+pulled.Id)
	assert.Equal(t, true, j["pulled"])
	assert.Equal(t, "hit", j["snapshot_reason"])
	commit, _ := j["commit"].(map[string]any)
	require.NotNil(t, commit, "the job's commit: %v", j)
	assert.Equal(t, true, commit["committed"])
	assert.Equal(t, sharedtest.Digest, commit["digest"])
	assert.NotContains(t, commit, "push_error")

	j = e.getJSON("GET", "/v1/jobs/"+failed.Id)
	assert.NotContains(t, j, "pulled", "pulled is absent when false")
	assert.Equal(t, false, j["snapshot_hit"])
	assert.Equal(t, "pull-failed", j["snapshot_reason"])
	commit, _ = j["commit"].(map[string]any)
	require.NotNil(t, commit, "the job's commit: %v", j)
	assert.Equal(t, sharedtest.PushFailure, commit["push_error"])
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
	assert.Equal(t, sharedtest.Digest, res.Commit.Digest)
	assert.Empty(t, res.Commit.PushError)
	res, ok = failed.Result()
	require.True(t, ok)
	assert.False(t, res.Pulled)
	assert.Equal(t, core.ReasonPullFailed, res.Reason)
	assert.Equal(t, sharedtest.PushFailure, res.Commit.PushError)
	list, err := e.c.ListJobs(context.Background(), client.ListOptions{WorkItem: "pulled"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	res, ok = list[0].Result()
	require.True(t, ok)
	assert.True(t, res.Pulled)
	assert.Equal(t, sharedtest.Digest, res.Commit.Digest)
}

// A sweep's evicted_shared, set by the core, reaches the API's JSON and
// the Go client's report; it is absent when the sweep evicted no shared
// snapshot.
func TestSweepReportOfSharedSnapshots(t *testing.T) {
	e := newEnv(t, setup{wrap: func(sc server.Core) server.Core { return sharedtest.Core{Core: sc} }})
	rep := e.getJSON("POST", "/v1/gc")
	assert.Equal(t, []any{sharedtest.Ref}, rep["evicted_shared"])
	dry := e.getJSON("POST", "/v1/gc?dry_run=true")
	assert.NotContains(t, dry, "evicted_shared", "absent when none")

	got, err := e.c.GC(context.Background(), core.SweepOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{sharedtest.Ref}, got.EvictedShared)
	got, err = e.c.GC(context.Background(), core.SweepOptions{DryRun: true})
	require.NoError(t, err)
	assert.Empty(t, got.EvictedShared)
}
