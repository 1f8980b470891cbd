package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed ui
var files embed.FS

// Prefix is the path of the page's files; the page itself is at /.
const Prefix = "/ui/"

// Options configure the Handler.
type Options struct {
	// TokenRequired tells the page that the API wants a bearer token, so it
	// asks for one before its first request.
	TokenRequired bool
	// NotFound answers a request for a file the page does not have (nil:
	// http.NotFound).
	NotFound http.HandlerFunc
}

// CSP is the Content-Security-Policy of every answer: the page loads and
// connects to its own origin only, and runs no inline script or style.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is an embedded file ready to serve.
type file struct {
	body []byte
	etag string
}

// Handler serves the page at / and its files under Prefix (GET and HEAD).
type Handler struct {
	files    map[string]file // by URL path
	notFound http.HandlerFunc
}

// New returns the Handler.
func New(opts Options) *Handler {
	h := &Handler{files: map[string]file{}, notFound: opts.NotFound}
	if h.notFound == nil {
		h.notFound = http.NotFound
	}
	err := fs.WalkDir(files, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		url := Prefix + strings.TrimPrefix(p, "ui/")
		if p == "ui/index.html" {
			url = "/"
			if opts.TokenRequired {
				b = bytes.Replace(b, []byte(`data-auth=""`), []byte(`data-auth="bearer"`), 1)
			}
		}
		sum := sha256.Sum256(b)
		h.files[url] = file{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("dashboard: embedded files: " + err.Error()) // they are in the binary
	}
	return h
}

// Public reports whether r asks for the page or one of its files, which
// need no token: they hold no data.
func Public(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, Prefix))
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		h.notFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-cache") // revalidated with the ETag: a new berth serves its new page
	hd.Set("ETag", f.etag)
	name := path.Base(r.URL.Path)
	if r.URL.Path == "/" {
		name = "index.html"
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
