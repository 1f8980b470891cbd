package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// statuses maps each core error kind to its HTTP status.
var statuses = map[core.ErrorKind]int{
	core.KindInvalidJob:     http.StatusBadRequest,
	core.KindUnknownRuntime: http.StatusUnprocessableEntity,
	core.KindQueueTimeout:   http.StatusServiceUnavailable,
	core.KindWorkItemBusy:   http.StatusConflict,
	core.KindUnavailable:    http.StatusServiceUnavailable,
	core.KindNotFound:       http.StatusNotFound,
	core.KindJobNotFound:    http.StatusNotFound,
	core.KindCancelled:      http.StatusServiceUnavailable,
	core.KindInterrupted:    http.StatusServiceUnavailable,
	core.KindLost:           http.StatusInternalServerError,
	core.KindDraining:       http.StatusServiceUnavailable,
	core.KindClosed:         http.StatusServiceUnavailable,
	core.KindInternal:       http.StatusInternalServerError,
}

// retryAfter is the Retry-After, in seconds, of the kinds worth retrying.
var retryAfter = map[string]int{
	string(core.KindQueueTimeout): 1,
	string(core.KindUnavailable):  5,
	api.KindTooManyStreams:        1,
}

// fail answers err as a problem of its core kind.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := core.KindOf(err)
	status, ok := statuses[kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 && kind != core.KindDraining && kind != core.KindCancelled {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "kind", kind, "err", err)
	}
	s.problem(w, r, status, string(kind), err.Error())
}

// invalid answers a bad request: the kind is invalid-job for a job's own
// fields, invalid-request for anything else.
func (s *Server) invalid(w http.ResponseWriter, r *http.Request, kind string, format string, args ...any) {
	s.problem(w, r, http.StatusBadRequest, kind, fmt.Sprintf(format, args...))
}

// problem writes an RFC 9457 problem.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, kind, detail string) {
	if sec, ok := retryAfter[kind]; ok {
		w.Header().Set("Retry-After", strconv.Itoa(sec))
	}
	p := api.Problem{
		Type:   api.ProblemType(kind),
		Title:  http.StatusText(status),
		Status: status,
	}
	if detail != "" {
		p.Detail = &detail
	}
	writeJSON(w, status, api.MediaProblem, p)
}

// writeJSON writes v as the answer.
func writeJSON(w http.ResponseWriter, status int, mediaType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every type answered marshals; this is a bug.
		http.Error(w, "marshal answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ok writes v as a 200 application/json answer.
func ok(w http.ResponseWriter, v any) { writeJSON(w, http.StatusOK, "application/json", v) }

// decode reads r's JSON body into v, capped at MaxBodyBytes, refusing
// unknown fields and trailing data. An empty body is allowed when
// optional. It answers the problem itself and returns false on failure
// (413 for a body over the cap, else 400 of kind).
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any, kind string, optional bool) bool {
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var tooLarge *http.MaxBytesError
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON object")
			if errors.As(terr, &tooLarge) {
				err = terr
			}
		}
	}
	if errors.Is(err, io.EOF) && optional {
		return true
	}
	switch {
	case errors.As(err, &tooLarge):
		s.problem(w, r, http.StatusRequestEntityTooLarge, api.KindBodyTooLarge,
			fmt.Sprintf("request body over %d bytes", tooLarge.Limit))
		return false
	case errors.Is(err, io.EOF):
		s.invalid(w, r, kind, "request body: empty, want a JSON object")
		return false
	case err != nil:
		s.invalid(w, r, kind, "request body: %v", err)
		return false
	}
	return true
}
