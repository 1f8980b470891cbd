package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/server"
)

// commit runs a job of the work item that exits 0, so that it has a
// snapshot.
func (e *env) commit(project, workItem string) {
	e.t.Helper()
	req := sh(workItem, "echo x > /f")
	req.Project = &project
	j := e.wait(e.create(req).Id)
	res, _ := j.Result()
	require.True(e.t, res.Commit.Committed, "job of %s/%s committed", project, workItem)
}

func TestSnapshots(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	e.commit("p1", "w1")
	e.commit("p1", "w2")
	e.commit("p2", "w1")

	all, err := e.c.Snapshots(ctx, "")
	require.NoError(t, err)
	assert.Len(t, all, 3)
	inCore, err := e.core.Snapshots(ctx, "")
	require.NoError(t, err)
	want, err := json.Marshal(inCore)
	require.NoError(t, err)
	got, err := json.Marshal(all)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "the client's snapshots are the core's, field for field")
	p2, err := e.c.Snapshots(ctx, "p2")
	require.NoError(t, err)
	require.Len(t, p2, 1)
	assert.Equal(t, "w1", p2[0].WorkItem)

	removed, err := e.c.DeleteSnapshots(ctx, "p2", "w1")
	require.NoError(t, err)
	require.Len(t, removed, 1)
	assert.Equal(t, p2[0].Image, removed[0].Image)
	_, err = e.c.DeleteSnapshots(ctx, "p2", "w1")
	require.ErrorIs(t, err, runtime.ErrNotFound, "no snapshot left to remove")
	assert.Equal(t, http.StatusNotFound, problemOf(t, err).Status)

	removed, err = e.c.DeleteSnapshots(ctx, "p1", "")
	require.NoError(t, err)
	assert.Len(t, removed, 2, "the whole project")
	all, err = e.c.Snapshots(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, all)
	_, err = e.c.DeleteSnapshots(ctx, "p1", "")
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

func TestSnapshotOfAWorkItemInUseIsBusy(t *testing.T) {
	e := newEnv(t, setup{core: func(c *core.Config) { c.WorkItemTimeout = 20 * time.Millisecond }})
	e.commit("p", "w")
	project := "p"
	req := sh("w", "sleep 3600")
	req.Project = &project
	j := e.create(req)
	e.running(j.Id)
	_, err := e.c.DeleteSnapshots(context.Background(), "p", "w")
	require.ErrorIs(t, err, core.ErrWorkItemBusy)
	assert.Equal(t, http.StatusConflict, problemOf(t, err).Status)
	assert.True(t, core.Retryable(err))
	_, err = e.c.CancelJob(context.Background(), j.Id)
	require.NoError(t, err)
	e.wait(j.Id)
}

func TestFork(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	e.commit("p", "a")
	sn, err := e.c.Fork(ctx, client.WorkItem{Project: "p", WorkItem: "a"}, client.WorkItem{Project: "q", WorkItem: "b"})
	require.NoError(t, err, "Fork")
	assert.Equal(t, "q", sn.Project, "the fork's project")
	assert.Equal(t, "b", sn.WorkItem, "the fork's work item")
	assert.Equal(t, 1, sn.Generation, "the fork's generation")
	all, err := e.c.Snapshots(ctx, "q")
	require.NoError(t, err)
	require.Len(t, all, 1, "snapshots of q")
	assert.Equal(t, sn.Image, all[0].Image, "q's snapshot")

	project := "q"
	req := sh("b", "cat /f")
	req.Project = &project
	res, _ := e.wait(e.create(req).Id).Result()
	assert.True(t, res.Hit, "b's job after the fork: a miss (%s)", res.Reason)
	assert.Equal(t, sn.Image, res.Image, "image b's job ran")

	// The answer as the document has it: 201 with the snapshot.
	resp, err := e.check.Client(t, nil).Post(e.ts.URL+"/v1/snapshots/fork", "application/json",
		strings.NewReader(`{"from": {"project": "p", "work_item": "a"}, "to": {"work_item": "c"}}`))
	require.NoError(t, err)
	var got api.Snapshot
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "a fork's status")
	assert.Equal(t, core.DefaultProject, got.Project, "project of a fork without one")
	assert.Equal(t, "c", got.WorkItem, "work item of the fork")

	_, err = e.c.Fork(ctx, client.WorkItem{Project: "p", WorkItem: "none"}, client.WorkItem{WorkItem: "d"})
	require.ErrorIs(t, err, runtime.ErrNotFound, "a fork of a work item without snapshot")
	assert.Equal(t, http.StatusNotFound, problemOf(t, err).Status)
	_, err = e.c.Fork(ctx, client.WorkItem{Project: "p", WorkItem: "a"}, client.WorkItem{Project: "p", WorkItem: "a"})
	require.ErrorIs(t, err, core.ErrInvalidJob, "a fork onto itself")
	assert.Equal(t, http.StatusBadRequest, problemOf(t, err).Status)

	resp, err = e.check.Client(t, nil).Post(e.ts.URL+"/v1/snapshots/fork", "application/json",
		strings.NewReader(`{"from": {"work_item": "a"}}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a fork without its target")
}

// noForkCore is a server.Core on a runtime that cannot copy images.
type noForkCore struct{ server.Core }

func (noForkCore) Fork(context.Context, core.WorkItem, core.WorkItem) (core.Snapshot, error) {
	return core.Snapshot{}, fmt.Errorf("fork: runtime %q cannot copy images: %w", "fake", errors.ErrUnsupported)
}

func TestForkNotSupported(t *testing.T) {
	e := newEnv(t, setup{wrap: func(sc server.Core) server.Core { return noForkCore{sc} }})
	_, err := e.c.Fork(context.Background(), client.WorkItem{WorkItem: "a"}, client.WorkItem{Project: "p", WorkItem: "b"})
	require.ErrorIs(t, err, errors.ErrUnsupported)
	pe := problemOf(t, err)
	assert.Equal(t, http.StatusNotImplemented, pe.Status)
	assert.Equal(t, api.KindNotSupported, pe.Kind)
}

func TestGC(t *testing.T) {
	e := newEnv(t, setup{core: func(c *core.Config) { c.Policy.MaxCount = 1 }})
	e.commit("p", "w1")
	e.commit("p", "w2") // one over the cap

	dry, err := e.c.GC(context.Background(), core.SweepOptions{DryRun: true})
	require.NoError(t, err)
	assert.True(t, dry.DryRun)
	require.Len(t, dry.Evicted, 1, "the least recently used, in a dry run")
	assert.Equal(t, "w1", dry.Evicted[0].WorkItem)
	assert.NotNil(t, dry.RemovedContainers, "empty lists are lists")
	left, err := e.c.Snapshots(context.Background(), "")
	require.NoError(t, err)
	assert.Len(t, left, 2, "a dry run removes nothing")

	resp, err := e.check.Client(t, nil).Post(e.ts.URL+"/v1/gc?dry_run=true", "application/json", nil)
	require.NoError(t, err)
	var viaQuery core.SweepReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&viaQuery))
	resp.Body.Close()
	assert.True(t, viaQuery.DryRun, "dry_run in the query")

	rep, err := e.c.GC(context.Background(), core.SweepOptions{OrphanGrace: time.Minute})
	require.NoError(t, err)
	require.Len(t, rep.Evicted, 1)
	left, err = e.c.Snapshots(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, "w2", left[0].WorkItem)

	resp, err = e.check.Client(t, nil).Post(e.ts.URL+"/v1/gc", "application/json", strings.NewReader(`{"orphan_grace": "later"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestGCWithAnEngineDown(t *testing.T) {
	down := fake.New(fake.WithFaults(fake.Fault{Op: fake.OpListContainers, Err: runtime.ErrUnavailable}))
	t.Cleanup(func() { down.Close() })
	e := newEnv(t, setup{runtimes: core.RuntimeList{{Name: "down", Runtime: down}}})
	_, err := e.c.GC(context.Background(), core.SweepOptions{})
	require.ErrorIs(t, err, runtime.ErrUnavailable)
	pe := problemOf(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, pe.Status)
	assert.Positive(t, pe.RetryAfter)
}

func TestRuntimes(t *testing.T) {
	down := fake.New(fake.WithFaults(fake.Fault{Op: fake.OpPing, Err: runtime.ErrUnavailable}))
	t.Cleanup(func() { down.Close() })
	e := newEnv(t, setup{runtimes: core.RuntimeList{{Name: "down", Runtime: down}}})
	rts, err := e.c.Runtimes(context.Background())
	require.NoError(t, err)
	require.Len(t, rts, 2)
	ok, bad := rts[0], rts[1]
	assert.Equal(t, "fake", ok.Name)
	assert.True(t, ok.Default)
	assert.True(t, ok.Healthy)
	assert.Equal(t, "ok", ok.Health)
	require.NotNil(t, ok.Driver)
	assert.Equal(t, "berth-driver-fake", *ok.Driver)
	assert.Contains(t, ok.Capabilities, "commit")
	assert.Equal(t, "down", bad.Name)
	assert.False(t, bad.Default)
	assert.False(t, bad.Healthy)
	assert.True(t, strings.HasPrefix(bad.Health, "unavailable: "), "health of a runtime whose engine is down: %q", bad.Health)
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, setup{})
	ctx := context.Background()
	require.NoError(t, e.c.Health(ctx))
	require.NoError(t, e.c.Ready(ctx))
	e.srv.SetReady(core.ErrDraining)
	require.NoError(t, e.c.Health(ctx), "a draining daemon is alive")
	err := e.c.Ready(ctx)
	require.ErrorIs(t, err, core.ErrDraining)
	assert.Equal(t, http.StatusServiceUnavailable, problemOf(t, err).Status)

	fresh := server.New(server.Options{Core: e.core})
	req, err := http.NewRequest("GET", "/readyz", nil)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	fresh.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a server not yet ready")
	assert.Contains(t, rec.Body.String(), api.ProblemType(api.KindNotReady))
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, setup{})
	e.commit("p", "w")
	live := e.create(sh("", "sleep 3600"))
	e.running(live.Id)
	defer e.c.CancelJob(context.Background(), live.Id) //nolint:errcheck // the test is over

	resp, err := e.check.Client(t, nil).Get(e.ts.URL + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	for name := range fams {
		assert.True(t, strings.HasPrefix(name, "berth_"), "metric %s starts with berth_", name)
	}
	value := func(name string, labels ...string) float64 {
		t.Helper()
		fam := fams[name]
		require.NotNil(t, fam, "metric %s", name)
		for _, m := range fam.Metric {
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.Label {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				match = match && found
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("metric %s%v not found", name, labels)
		return 0
	}
	assert.Equal(t, 2.0, value("berth_jobs_total"), "the core's counter of jobs")
	assert.Equal(t, 1.0, value("berth_commits_total"))
	for _, name := range []string{core.MetricPushes, core.MetricPushFailures, core.MetricPulls, core.MetricPullFailures} {
		assert.Equal(t, 0.0, value("berth_"+name), "the registry's counters, there before any push or pull")
	}
	assert.Equal(t, 1.0, value("berth_jobs_running"))
	assert.Equal(t, 0.0, value("berth_jobs_queued"))
	assert.Positive(t, value("berth_snapshot_bytes", "project", "p"))
	assert.Equal(t, 1.0, value("berth_snapshots", "project", "p"))
	assert.Equal(t, 1.0, value("berth_job_phase_duration_seconds", "phase", "total"), "one job ended")
	assert.Equal(t, 1.0, value("berth_jobs_ended_total", "state", "exited"))
	assert.Equal(t, 0.0, value("berth_streams_open", "kind", "events"))
	assert.Positive(t, value("berth_events_published_total"))
	assert.Positive(t, value("berth_http_requests_total", "route", "POST /v1/jobs", "code", "201"))
	assert.Positive(t, value("berth_go_goroutines"))
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	e := newEnv(t, setup{})
	resp, err := e.check.Client(t, nil).Get(e.ts.URL + "/v1/openapi.json")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	want, err := api.OpenAPIJSON()
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(body))
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.Contains(t, doc.Paths, "/v1/jobs/{id}/logs")
}
