package apitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api/apitest"
)

// recorder is a testing.TB that records the errors reported to it.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Helper() {}

// The checker catches answers and requests the document does not allow:
// the tests that rely on it can fail.
func TestCheckerCatchesMismatches(t *testing.T) {
	answers := map[string]struct {
		ctype, body string
		status      int
	}{
		"/healthz":          {"application/json", `{"status": "ok"}`, 200},
		"/readyz":           {"application/json", `{"status": 1}`, 200},
		"/v1/jobs/x":        {"application/json", `{"id": "x", "state": "asleep"}`, 200},
		"/v1/jobs/y":        {"application/problem+json", `{"type": "t", "title": "gone", "status": 404}`, 404},
		"/v1/jobs/x/logs":   {"application/x-ndjson", "{\"stream\":\"stdout\",\"data\":\"a\"}\n{\"stream\":\"stdin\",\"data\":\"b\"}\n", 200},
		"/v1/runtimes":      {"text/plain", `hello`, 200},
		"/nowhere":          {"text/plain", `not found`, 404},
		"/v1/snapshots/p/w": {"application/json", `{"removed": []}`, 200},
		"/v1/jobs":          {"application/problem+json", `{"type": "t", "title": "bad", "status": 400}`, 400},
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[r.URL.Path]
		w.Header().Set("Content-Type", a.ctype)
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	defer ts.Close()
	check := apitest.New(t)
	for path, wantErr := range map[string]bool{
		"/healthz": false, "/readyz": true, "/v1/jobs/x": true, "/v1/jobs/y": false,
		"/v1/jobs/x/logs": true, "/v1/runtimes": true, "/nowhere": true,
	} {
		rec := &recorder{TB: t}
		hc := &http.Client{Transport: check.Transport(rec)(http.DefaultTransport)}
		resp, err := hc.Get(ts.URL + path)
		require.NoError(t, err, path)
		_, err = io.ReadAll(resp.Body)
		require.NoError(t, err, path)
		resp.Body.Close()
		assert.Equal(t, wantErr, len(rec.errs) > 0, "GET %s: errors reported: %q", path, rec.errs)
	}

	// A request with a method the path does not have, and a request body
	// the document forbids.
	rec := &recorder{TB: t}
	hc := &http.Client{Transport: check.Transport(rec)(http.DefaultTransport)}
	resp, err := hc.Post(ts.URL+"/v1/snapshots/p/w", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.NotEmpty(t, rec.errs, "POST to a DELETE-only path")
	rec = &recorder{TB: t}
	hc = &http.Client{Transport: check.Transport(rec)(http.DefaultTransport)}
	resp, err = hc.Post(ts.URL+"/v1/jobs", "application/json", strings.NewReader(`{"cmd": "not a list"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.NotEmpty(t, rec.errs, "a create whose cmd is no list")
}
