package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

// Errors of the HTTP layer, which the core does not have. Test them with
// errors.Is; the core's classes (core.ErrQueueTimeout, core.ErrJobNotFound,
// runtime.ErrUnavailable, ...) are matched as in process.
var (
	// ErrUnauthorized: the daemon wants a bearer token (WithToken), or
	// another one.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrBodyTooLarge: the request's body is over the daemon's cap.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrTooManyStreams: the daemon serves its most log and event
	// streams. Retryable.
	ErrTooManyStreams = errors.New("too many streams")
	// ErrNotReady: the daemon is starting. Retryable.
	ErrNotReady = errors.New("daemon not ready")
)

// Error is an error answer of the daemon (an RFC 9457 problem). It wraps
// the error class of its kind: errors.Is(err, core.ErrQueueTimeout) holds
// for a queue-timeout problem, and core.Retryable works on it.
type Error struct {
	Status int
	// Type is the problem type URI; Kind its last part (a core.ErrorKind
	// or one of api's Kind* names).
	Type, Kind string
	Title      string
	Detail     string
	// RetryAfter is the Retry-After the daemon sent (0 if none).
	RetryAfter time.Duration
	// Op is the call: its method and path.
	Op string
}

func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if e.Kind != "" {
		return fmt.Sprintf("%s: %s (%d %s)", e.Op, msg, e.Status, e.Kind)
	}
	return fmt.Sprintf("%s: %s (%d)", e.Op, msg, e.Status)
}

// Unwrap returns the error classes of the problem's kind.
func (e *Error) Unwrap() []error { return kindErrors(e.Kind) }

// Retryable reports whether a retry may succeed: the core's retryable
// classes (core.Retryable) and a daemon that is busy, starting or
// stopping.
func Retryable(err error) bool {
	return core.Retryable(err) || errors.Is(err, ErrTooManyStreams) || errors.Is(err, ErrNotReady) ||
		errors.Is(err, core.ErrDraining)
}

// kindErrors gives the error classes a problem kind stands for: the same
// as in process.
func kindErrors(kind string) []error {
	switch kind {
	case string(core.KindInvalidJob):
		// In process an invalid job is both (core.ErrInvalidJob wraps
		// runtime.ErrInvalidArgument in its errors).
		return []error{core.ErrInvalidJob, runtime.ErrInvalidArgument}
	case api.KindInvalidRequest:
		return []error{runtime.ErrInvalidArgument}
	case api.KindUnauthorized:
		return []error{ErrUnauthorized}
	case api.KindBodyTooLarge:
		return []error{ErrBodyTooLarge}
	case api.KindTooManyStreams:
		return []error{ErrTooManyStreams}
	case api.KindNotReady:
		return []error{ErrNotReady}
	case api.KindNotSupported:
		return []error{errors.ErrUnsupported}
	}
	if err := core.ErrorKind(kind).Err(); err != nil {
		return []error{err}
	}
	return nil
}

// KindError returns an error of the class kind names, with msg: what a
// job record's error (its problem type and detail) stands for.
func KindError(kind, msg string) error {
	return &Error{Kind: kind, Type: api.ProblemType(kind), Detail: msg, Op: "job"}
}

// readProblem makes the *Error of a non-2xx answer.
func readProblem(method, path string, resp *http.Response) error {
	e := &Error{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Op: method + " " + path}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p api.Problem
	if mt == api.MediaProblem && json.Unmarshal(body, &p) == nil {
		e.Type, e.Kind, e.Title = p.Type, api.ProblemKind(p.Type), p.Title
		if p.Detail != nil {
			e.Detail = *p.Detail
		}
		return e
	}
	// Not a problem: a proxy's page, or not berth at all.
	e.Detail = oneLine(string(body), 200)
	return e
}

// oneLine folds s onto one line of at most about n bytes.
func oneLine(s string, n int) string {
	out := strings.Join(strings.Fields(s), " ")
	if len(out) > n {
		out = out[:n] + "..."
	}
	return out
}
