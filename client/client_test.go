package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

func TestNewHosts(t *testing.T) {
	for host, want := range map[string]string{
		"unix:///run/berth.sock":    "http://berth",
		"/run/berth.sock":           "http://berth",
		"tcp://127.0.0.1:7400":      "http://127.0.0.1:7400",
		"http://127.0.0.1:7400/":    "http://127.0.0.1:7400",
		"https://berth.example:443": "https://berth.example:443",
	} {
		c, err := New(host)
		require.NoError(t, err, host)
		assert.Equal(t, want, c.base.String(), host)
	}
	c, err := New("tcp://127.0.0.1:7400", WithTLSConfig(&tls.Config{}))
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:7400", c.base.String(), "tcp:// with TLS")
	for _, bad := range []string{"", "unix://", "tcp://", "ftp://x"} {
		_, err := New(bad)
		assert.Error(t, err, "New(%q)", bad)
	}
}

// Each problem kind stands for the same error classes as in process.
func TestKindErrors(t *testing.T) {
	for kind, classes := range map[string][]error{
		"invalid-job":        {core.ErrInvalidJob, runtime.ErrInvalidArgument},
		"invalid-request":    {runtime.ErrInvalidArgument},
		"unknown-runtime":    {core.ErrUnknownRuntime},
		"queue-timeout":      {core.ErrQueueTimeout},
		"work-item-busy":     {core.ErrWorkItemBusy},
		"engine-unavailable": {runtime.ErrUnavailable},
		"not-found":          {runtime.ErrNotFound},
		"job-not-found":      {core.ErrJobNotFound},
		"cancelled":          {context.Canceled},
		"interrupted":        {core.ErrInterrupted},
		"lost":               {core.ErrLost},
		"draining":           {core.ErrDraining},
		"closed":             {core.ErrClosed},
		"unauthorized":       {ErrUnauthorized},
		"body-too-large":     {ErrBodyTooLarge},
		"too-many-streams":   {ErrTooManyStreams},
		"not-ready":          {ErrNotReady},
		"not-supported":      {errors.ErrUnsupported},
	} {
		err := KindError(kind, "detail")
		for _, class := range classes {
			assert.ErrorIs(t, err, class, "kind %s", kind)
		}
		assert.Equal(t, core.Retryable(classes[0]) || kind == "draining" || kind == "too-many-streams" || kind == "not-ready",
			Retryable(err), "Retryable of kind %s", kind)
	}
	assert.NotErrorIs(t, KindError("internal", "x"), core.ErrInvalidJob)
	assert.Nil(t, (&Error{Kind: "internal"}).Unwrap(), "internal: no class")
}

// WaitJob rides out a daemon that is away (no answer, then 503) and
// polls again until the job ended.
func TestWaitJobRidesOutALostDaemon(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch n {
		case 1: // the daemon dies mid-request
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		case 2:
			w.Header().Set("Content-Type", api.MediaProblem)
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemType(api.KindNotReady), Title: "Service Unavailable", Status: 503})
			return
		}
		state := api.JobStateRunning
		if n >= 4 {
			state = api.JobStateExited
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(api.Job{Id: "j", State: state, Created: time.Now(), Spec: api.JobSpec{Cmd: []string{"x"}}})
	}))
	defer ts.Close()
	c, err := New(ts.URL)
	require.NoError(t, err)
	defer c.Close()
	j, err := c.WaitJob(context.Background(), "j", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, api.JobStateExited, j.State)
	assert.Equal(t, int32(4), calls.Load(), "a lost answer, a 503, a live job, the ended job")
}

func TestAnswerThatIsNoProblem(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway\nfrom a proxy", http.StatusBadGateway)
	}))
	defer ts.Close()
	c, err := New(ts.URL)
	require.NoError(t, err)
	defer c.Close()
	err = c.Health(context.Background())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusBadGateway, e.Status)
	assert.Equal(t, "bad gateway from a proxy", e.Detail)
	assert.Empty(t, e.Kind)
}
