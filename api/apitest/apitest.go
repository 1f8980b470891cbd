// Package apitest checks HTTP traffic against the API's OpenAPI document
// (package api), for the tests of the server, the client and the command:
// wrap a client's transport with Checker.Transport and every request and
// answer that does not match the document fails the test, streams
// included (each NDJSON line of a log stream, each event's data).
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/berth-dev/berth/api"
)

// Checker validates requests and answers against the document.
type Checker struct {
	Doc    *openapi3.T
	router routers.Router
}

var load = sync.OnceValues(func() (*Checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &Checker{Doc: doc, router: router}, nil
})

// New returns the checker of the document, failing t if the document does
// not load or is not valid.
func New(t testing.TB) *Checker {
	t.Helper()
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Transport returns a wrapper for client.WithTransport that validates every
// request and answer, failing t on each mismatch.
func (c *Checker) Transport(t testing.TB) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return &roundTripper{c: c, t: t, next: next, requests: true}
	}
}

// ResponseTransport is Transport for tests that send requests the
// document forbids on purpose: it validates the answers only.
func (c *Checker) ResponseTransport(t testing.TB) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return &roundTripper{c: c, t: t, next: next}
	}
}

// Client returns an http.Client whose requests go through next (nil:
// http.DefaultTransport) wrapped by ResponseTransport.
func (c *Checker) Client(t testing.TB, next http.RoundTripper) *http.Client {
	if next == nil {
		next = http.DefaultTransport
	}
	return &http.Client{Transport: c.ResponseTransport(t)(next)}
}

// Schema validates the JSON value data against the component schema
// called name.
func (c *Checker) Schema(name string, data []byte) error {
	ref := c.Doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("no schema %q in the document", name)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse())
}

type roundTripper struct {
	c        *Checker
	t        testing.TB
	next     http.RoundTripper
	requests bool
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	op := req.Method + " " + req.URL.Path
	route, params, rerr := rt.c.router.FindRoute(req)
	input := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if rt.requests {
		if rerr != nil {
			rt.t.Errorf("apitest: %s: no operation of the document: %v", op, rerr)
		} else if err := rt.validateRequest(req, input); err != nil {
			rt.t.Errorf("apitest: request %s does not match the document: %v", op, err)
		}
	}
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if rerr != nil {
		// A path the document does not have: only a problem may answer it.
		if resp.StatusCode < 400 || mt != api.MediaProblem {
			rt.t.Errorf("apitest: %s: answered %d %s for a path the document does not have", op, resp.StatusCode, mt)
		}
		return resp, rt.wholeBody(resp, func(b []byte) error { return rt.c.Schema("Problem", b) })
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true, IncludeResponseStatus: true},
	}
	switch {
	case resp.StatusCode == http.StatusOK && mt == api.MediaNDJSON:
		rt.check(op, openapi3filter.ValidateResponse(req.Context(), excludeBody(out)))
		resp.Body = &lineChecker{rc: resp.Body, check: func(line []byte) {
			rt.check(op+" (a log line)", rt.c.Schema("LogChunk", line))
		}}
	case resp.StatusCode == http.StatusOK && mt == api.MediaSSE:
		rt.check(op, openapi3filter.ValidateResponse(req.Context(), excludeBody(out)))
		resp.Body = &lineChecker{rc: resp.Body, check: func(line []byte) {
			if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				rt.check(op+" (an event's data)", rt.c.Schema("Event", data))
			}
		}}
	default:
		return resp, rt.wholeBody(resp, func(b []byte) error {
			out.SetBodyBytes(b)
			return openapi3filter.ValidateResponse(req.Context(), out)
		})
	}
	return resp, nil
}

// validateRequest validates req, putting its body back for the transport.
func (rt *roundTripper) validateRequest(req *http.Request, input *openapi3filter.RequestValidationInput) error {
	if req.Body == nil || req.Body == http.NoBody {
		return openapi3filter.ValidateRequest(req.Context(), input)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(b))
	input.Request = clone
	return openapi3filter.ValidateRequest(req.Context(), input)
}

// wholeBody reads the answer's body, checks it with check and puts it back.
func (rt *roundTripper) wholeBody(resp *http.Response, check func([]byte) error) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return err
	}
	rt.check(resp.Request.Method+" "+resp.Request.URL.Path+fmt.Sprintf(" (%d)", resp.StatusCode), check(b))
	return nil
}

func (rt *roundTripper) check(what string, err error) {
	if err != nil {
		rt.t.Errorf("apitest: answer of %s does not match the document: %v", what, err)
	}
}

func excludeBody(in *openapi3filter.ResponseValidationInput) *openapi3filter.ResponseValidationInput {
	cp := *in
	opts := *in.Options
	opts.ExcludeResponseBody = true
	cp.Options = &opts
	return &cp
}

// lineChecker passes a streamed body on as it is read and checks each of
// its lines.
type lineChecker struct {
	rc      io.ReadCloser
	check   func(line []byte)
	partial []byte
}

func (l *lineChecker) Read(p []byte) (int, error) {
	n, err := l.rc.Read(p)
	l.partial = append(l.partial, p[:n]...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimRight(l.partial[:i], "\r"); len(strings.TrimSpace(string(line))) > 0 {
			l.check(line)
		}
		l.partial = l.partial[i+1:]
	}
	return n, err
}

func (l *lineChecker) Close() error { return l.rc.Close() }
