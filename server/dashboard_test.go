package server_test

import (
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/server"
)

// The dashboard is at /, with its files under /ui/: they need no token
// (they hold no data), while every API path still does.
func TestDashboardIsServedAndTheAPIKeepsItsToken(t *testing.T) {
	e := newEnv(t, setup{server: func(o *server.Options) { o.Token = "secret" }})
	do := func(method, path, token string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, e.ts.URL+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	mediaType := func(resp *http.Response) string {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		return mt
	}

	resp, page := do("GET", "/", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html", mediaType(resp))
	assert.Contains(t, page, `data-auth="bearer"`, "the page knows it must ask for the token")
	assert.Contains(t, page, `<script type="module" src="/ui/app.js">`)
	resp, _ = do("GET", "/ui/app.js", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript", mediaType(resp))

	for _, path := range []string{"/v1/jobs", "/v1/snapshots", "/v1/disk", "/v1/gc/runs", "/v1/events", "/metrics", "/healthz"} {
		resp, _ := do("GET", path, "")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "GET %s without the token", path)
	}
	resp, _ = do("GET", "/v1/disk", "secret")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /v1/disk with the token")

	resp, problem := do("GET", "/ui/nothing.js", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, api.MediaProblem, mediaType(resp))
	assert.NoError(t, e.check.Schema("Problem", []byte(problem)))
	resp, _ = do("POST", "/", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "only GET and HEAD of the page go without the token")
	resp, _ = do("POST", "/", "secret")
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.True(t, strings.Contains(resp.Header.Get("Allow"), "GET"), "Allow: %s", resp.Header.Get("Allow"))
}

// Without a token (the unix socket), the page does not ask for one.
func TestDashboardWithoutAToken(t *testing.T) {
	e := newEnv(t, setup{})
	resp, err := http.Get(e.ts.URL + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(b), `data-auth=""`)
}
