package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
)

// testRemote is a daemon served by h, until the test's end.
func testRemote(t *testing.T, h http.Handler) *remote {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return &remote{host: srv.URL, from: "--host", c: c}
}

// TestFollowResumes: a log stream that breaks (the connection cut) or
// ends before the job (a daemon that stops) is resumed where it broke:
// every byte of the job's output is copied once, to its stream, whatever
// the chunks of each connection.
func TestFollowResumes(t *testing.T) {
	var conns atomic.Int32
	var ended atomic.Bool
	mux := http.NewServeMux()
	chunk := func(w http.ResponseWriter, stream, data string) {
		b, err := json.Marshal(api.LogChunk{Stream: api.LogChunkStream(stream), Data: data})
		assert.NoError(t, err)
		_, _ = w.Write(append(b, '\n'))
		w.(http.Flusher).Flush()
	}
	mux.HandleFunc("GET /v1/jobs/j1/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.MediaNDJSON)
		switch conns.Add(1) {
		case 1: // cut in the middle
			chunk(w, "stdout", "hel")
			chunk(w, "stderr", "E1")
			conn, _, err := w.(http.Hijacker).Hijack()
			if assert.NoError(t, err) {
				conn.Close()
			}
		case 2: // ended before the job
			chunk(w, "stdout", "hello\n")
			chunk(w, "stderr", "E1E2")
		default:
			chunk(w, "stdout", "hello\n")
			chunk(w, "stderr", "E1")
			chunk(w, "stderr", "E2")
			chunk(w, "stdout", "world\n")
			ended.Store(true)
		}
	})
	mux.HandleFunc("GET /v1/jobs/j1", func(w http.ResponseWriter, r *http.Request) {
		state := api.JobStateRunning
		if ended.Load() {
			state = api.JobStateExited
		}
		w.Header().Set("Content-Type", "application/json")
		assert.NoError(t, json.NewEncoder(w).Encode(api.Job{Id: "j1", State: state}))
	})
	r := testRemote(t, mux)
	var stdout, stderr, warn bytes.Buffer
	r.follow(context.Background(), "j1", &stdout, &stderr, &warn).wait()
	assert.Equal(t, "hello\nworld\n", stdout.String(), "stdout")
	assert.Equal(t, "E1E2", stderr.String(), "stderr")
	assert.Empty(t, warn.String(), "warnings")
	assert.Equal(t, int32(3), conns.Load(), "log streams opened")
}

// TestFollowGivesUp: a log stream the daemon refuses for good (the job's
// record is gone) ends the copy with one warning.
func TestFollowGivesUp(t *testing.T) {
	r := testRemote(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", api.MediaProblem)
		w.WriteHeader(http.StatusNotFound)
		detail := "job not found"
		assert.NoError(t, json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemType("job-not-found"),
			Title: "Not Found", Status: http.StatusNotFound, Detail: &detail}))
	}))
	var stdout, stderr, warn bytes.Buffer
	r.follow(context.Background(), "gone", &stdout, &stderr, &warn).wait()
	assert.Equal(t, "berth: warning: output of job gone: job not found\n", warn.String(), "the warning")
	assert.Empty(t, stdout.String()+stderr.String(), "output")
}
