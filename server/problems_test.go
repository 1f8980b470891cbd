package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/berth-dev/berth/server"
)

// problemOf returns err as the client's *Error, failing the test if it is
// none.
func problemOf(t *testing.T, err error) *client.Error {
	t.Helper()
	var pe *client.Error
	require.ErrorAs(t, err, &pe)
	return pe
}

// Every error class of the core reaches the client with its status, its
// problem type and its class: errors.Is and core.Retryable hold as in
// process.
func TestEveryCoreErrorClassCrossesTheAPI(t *testing.T) {
	for _, c := range []struct {
		class      error
		status     int
		kind       core.ErrorKind
		retryAfter bool
	}{
		{core.ErrInvalidJob, 400, core.KindInvalidJob, false},
		{core.ErrUnknownRuntime, 422, core.KindUnknownRuntime, false},
		{core.ErrQueueTimeout, 503, core.KindQueueTimeout, true},
		{core.ErrWorkItemBusy, 409, core.KindWorkItemBusy, false},
		{runtime.ErrUnavailable, 503, core.KindUnavailable, true},
		{core.ErrJobNotFound, 404, core.KindJobNotFound, false},
		{runtime.ErrNotFound, 404, core.KindNotFound, false},
		{core.ErrDraining, 503, core.KindDraining, false},
		{core.ErrClosed, 503, core.KindClosed, false},
		{errors.New("disk on fire"), 500, core.KindInternal, false},
	} {
		t.Run(string(c.kind), func(t *testing.T) {
			injected := fmt.Errorf("injected: %w", c.class)
			e := newEnv(t, setup{wrap: func(sc server.Core) server.Core { return &errCore{Core: sc, submit: injected} }})
			_, err := e.c.CreateJob(context.Background(), sh("", "true"), "")
			pe := problemOf(t, err)
			assert.Equal(t, c.status, pe.Status, "status")
			assert.Equal(t, string(c.kind), pe.Kind, "kind")
			assert.Equal(t, "https://berth.dev/problems/"+string(c.kind), pe.Type, "type")
			assert.Equal(t, injected.Error(), pe.Detail, "detail")
			assert.Equal(t, c.retryAfter, pe.RetryAfter > 0, "Retry-After")
			if c.kind != core.KindInternal {
				assert.ErrorIs(t, err, c.class, "the class survives the API")
			}
			assert.Equal(t, core.Retryable(injected), core.Retryable(err), "core.Retryable")
			assert.Equal(t, c.kind, core.KindOf(err), "core.KindOf of the client's error")
		})
	}
}

func TestBadJobs(t *testing.T) {
	e := newEnv(t, setup{})
	raw := e.check.Client(t, nil) // these requests break the document on purpose
	for _, c := range []struct{ name, body string }{
		{"not JSON", `{"cmd": [`},
		{"empty", ``},
		{"not an object", `["sh"]`},
		{"unknown field", `{"cmd": ["true"], "colour": "red"}`},
		{"trailing data", `{"cmd": ["true"]} {}`},
		{"no command", `{"image": "x"}`},
		{"bad timeout", `{"cmd": ["true"], "timeout": "soon"}`},
		{"negative timeout", `{"cmd": ["true"], "timeout": "-1s"}`},
		{"bad memory", `{"cmd": ["true"], "memory": "lots"}`},
		{"negative cpus", `{"cmd": ["true"], "cpus": -1}`},
		{"bad env key", `{"cmd": ["true"], "env": {"A=B": "c"}}`},
		{"snapshot without a work item", `{"cmd": ["true"], "snapshot": true}`},
		{"reserved label", `{"cmd": ["true"], "labels": {"io.berth.job": "x"}}`},
	} {
		resp, err := raw.Post(e.ts.URL+"/v1/jobs", "application/json", strings.NewReader(c.body))
		require.NoError(t, err, c.name)
		var p api.Problem
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p), c.name)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, c.name)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"), c.name)
		assert.Equal(t, api.ProblemType(string(core.KindInvalidJob)), p.Type, c.name)
		assert.NotEmpty(t, p.Detail, c.name)
	}
	list, err := e.c.ListJobs(context.Background(), client.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list, "no bad job was recorded")

	nope := "nope"
	req := sh("", "true")
	req.Runtime = &nope
	_, err = e.c.CreateJob(context.Background(), req, "")
	require.ErrorIs(t, err, core.ErrUnknownRuntime)
	assert.Equal(t, http.StatusUnprocessableEntity, problemOf(t, err).Status)
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, setup{server: func(o *server.Options) { o.MaxBodyBytes = 64 }})
	req := sh("", "echo "+strings.Repeat("x", 100))
	_, err := e.c.CreateJob(context.Background(), req, "")
	require.ErrorIs(t, err, client.ErrBodyTooLarge)
	pe := problemOf(t, err)
	assert.Equal(t, http.StatusRequestEntityTooLarge, pe.Status)
	assert.Equal(t, api.KindBodyTooLarge, pe.Kind)
}

func TestUnknownJob(t *testing.T) {
	e := newEnv(t, setup{})
	_, err := e.c.GetJob(context.Background(), "nope")
	require.ErrorIs(t, err, core.ErrJobNotFound)
	assert.Equal(t, http.StatusNotFound, problemOf(t, err).Status)
	_, err = e.c.CancelJob(context.Background(), "nope")
	require.ErrorIs(t, err, core.ErrJobNotFound)
	_, err = e.c.WaitJob(context.Background(), "nope", time.Minute)
	require.ErrorIs(t, err, core.ErrJobNotFound)
}

func TestBadQueries(t *testing.T) {
	e := newEnv(t, setup{})
	raw := e.check.Client(t, nil)
	for _, path := range []string{"/v1/jobs?state=asleep", "/v1/jobs?limit=-1", "/v1/jobs?limit=many",
		"/v1/jobs/x/wait?timeout=soon", "/v1/jobs/x/logs?follow=maybe"} {
		resp, err := raw.Get(e.ts.URL + path)
		require.NoError(t, err, path)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, path)
	}
	loose := e.client(client.WithTransport(e.check.ResponseTransport(t)))
	_, err := loose.ListJobs(context.Background(), client.ListOptions{State: "asleep"})
	require.ErrorIs(t, err, runtime.ErrInvalidArgument, "a bad query is an invalid argument")
	assert.Equal(t, api.KindInvalidRequest, problemOf(t, err).Kind)
}

func TestUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t, setup{})
	raw := e.check.Client(t, nil)
	resp, err := raw.Get(e.ts.URL + "/v2/jobs")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	req, err := http.NewRequest("DELETE", e.ts.URL+"/v1/jobs", nil)
	require.NoError(t, err)
	resp, err = raw.Do(req)
	require.NoError(t, err)
	var p api.Problem
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, api.ProblemType(api.KindMethodNotAllowed), p.Type)
	assert.Equal(t, "GET, POST", resp.Header.Get("Allow"))
}

func TestToken(t *testing.T) {
	e := newEnv(t, setup{server: func(o *server.Options) { o.Token = "s3cret" }})
	err := e.c.Health(context.Background())
	require.ErrorIs(t, err, client.ErrUnauthorized, "no token")
	assert.Equal(t, http.StatusUnauthorized, problemOf(t, err).Status)

	wrong := e.client(client.WithToken("s3cre"), client.WithTransport(e.check.Transport(t)))
	require.ErrorIs(t, wrong.Health(context.Background()), client.ErrUnauthorized, "a wrong token")
	_, err = wrong.ListJobs(context.Background(), client.ListOptions{})
	require.ErrorIs(t, err, client.ErrUnauthorized, "a wrong token, on the API")

	right := e.client(client.WithToken("s3cret"), client.WithTransport(e.check.Transport(t)))
	require.NoError(t, right.Health(context.Background()))
	j, err := right.CreateJob(context.Background(), sh("", "true"), "")
	require.NoError(t, err)
	_, err = right.WaitJob(context.Background(), j.Id, time.Minute)
	require.NoError(t, err)

	resp, err := e.check.Client(t, nil).Get(e.ts.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "metrics need the token too")
	assert.Equal(t, `Bearer realm="berth"`, resp.Header.Get("WWW-Authenticate"))
}

// Past the cap on open streams, a stream is refused with 503 and
// Retry-After; once one closes, another may open.
func TestStreamCap(t *testing.T) {
	e := newEnv(t, setup{server: func(o *server.Options) { o.MaxStreams = 1 }})
	j := e.wait(e.create(sh("", "echo hi")).Id)
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := e.check.Client(t, nil).Do(mustRequest(t, ctx, e.ts.URL+"/v1/events"))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	err = e.c.Logs(context.Background(), j.Id, false, func(core.Stream, []byte) error { return nil })
	require.ErrorIs(t, err, client.ErrTooManyStreams)
	pe := problemOf(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, pe.Status)
	assert.Equal(t, time.Second, pe.RetryAfter)
	assert.True(t, client.Retryable(err))

	cancel()
	resp.Body.Close()
	require.Eventually(t, func() bool {
		return e.c.Logs(context.Background(), j.Id, false, func(core.Stream, []byte) error { return nil }) == nil
	}, time.Minute, 10*time.Millisecond, "a stream opens once the other closed")
}

func mustRequest(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	return req
}

// A job the core could not run carries its error's problem type, and the
// client's Job.Err wraps the class.
func TestQueueTimeoutIsTheJobsError(t *testing.T) {
	e := newEnv(t, setup{core: func(c *core.Config) { c.MaxConcurrent, c.QueueTimeout = 1, 20*time.Millisecond }})
	long := e.create(sh("", "sleep 3600"))
	e.running(long.Id)
	late := e.wait(e.create(sh("", "true")).Id)
	assert.Equal(t, api.JobStateFailed, late.State)
	require.NotNil(t, late.Error)
	assert.Equal(t, api.ProblemType(string(core.KindQueueTimeout)), late.Error.Type)
	require.ErrorIs(t, late.Err(), core.ErrQueueTimeout)
	assert.True(t, core.Retryable(late.Err()))
	_, err := e.c.CancelJob(context.Background(), long.Id)
	require.NoError(t, err)
	e.wait(long.Id)
}

func TestDrainingRefusesJobs(t *testing.T) {
	e := newEnv(t, setup{})
	require.NoError(t, e.core.Drain(context.Background()))
	_, err := e.c.CreateJob(context.Background(), sh("", "true"), "")
	require.ErrorIs(t, err, core.ErrDraining)
	assert.Equal(t, http.StatusServiceUnavailable, problemOf(t, err).Status)
	assert.True(t, client.Retryable(err), "another daemon may take it")
}
