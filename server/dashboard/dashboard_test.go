package dashboard_test

import (
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/server/dashboard"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// The page and its files are served with their types, the page's policy
// (this origin only, no inline script) and an ETag to revalidate.
func TestFilesAreServed(t *testing.T) {
	h := dashboard.New(dashboard.Options{})
	for path, typ := range map[string]string{
		"/":             "text/html",
		"/ui/app.js":    "text/javascript",
		"/ui/api.js":    "text/javascript",
		"/ui/chart.js":  "text/javascript",
		"/ui/format.js": "text/javascript",
		"/ui/style.css": "text/css",
		"/ui/icon.svg":  "image/svg+xml",
	} {
		resp := get(t, h, path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		assert.Equal(t, typ, mt, path)
		assert.Equal(t, dashboard.CSP, resp.Header.Get("Content-Security-Policy"), path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		assert.NotEmpty(t, body(t, resp), path)
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag, path)
		again := get(t, h, path, "If-None-Match", etag)
		assert.Equal(t, http.StatusNotModified, again.StatusCode, "%s revalidated with its ETag", path)
	}
	assert.Equal(t, http.StatusNotFound, get(t, h, "/ui/nothing.js").StatusCode)
	assert.Equal(t, http.StatusNotFound, get(t, h, "/ui/").StatusCode)
}

// Nothing the page loads comes from elsewhere: no URL with a scheme or a
// host in its files (the policy would refuse it anyway).
func TestNothingFromElsewhere(t *testing.T) {
	h := dashboard.New(dashboard.Options{})
	for _, path := range []string{"/", "/ui/app.js", "/ui/api.js", "/ui/chart.js", "/ui/format.js", "/ui/style.css"} {
		text := body(t, get(t, h, path))
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			assert.NotContains(t, strings.ReplaceAll(text, "http://www.w3.org/2000/svg", ""), bad, path)
		}
	}
}

// The page knows whether the API wants a token.
func TestPageKnowsTheTokenRule(t *testing.T) {
	assert.Contains(t, body(t, get(t, dashboard.New(dashboard.Options{TokenRequired: true}), "/")), `data-auth="bearer"`)
	assert.Contains(t, body(t, get(t, dashboard.New(dashboard.Options{}), "/")), `data-auth=""`)
}

func TestPublic(t *testing.T) {
	for _, c := range []struct {
		method, path string
		public       bool
	}{
		{"GET", "/", true}, {"HEAD", "/", true}, {"GET", "/ui/app.js", true},
		{"POST", "/", false}, {"GET", "/v1/jobs", false}, {"GET", "/metrics", false}, {"GET", "/healthz", false},
		{"DELETE", "/ui/app.js", false}, {"GET", "/uix", false},
	} {
		assert.Equal(t, c.public, dashboard.Public(httptest.NewRequest(c.method, c.path, nil)), "%s %s", c.method, c.path)
	}
}
