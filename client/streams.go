package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// Logs calls fn with job id's output from its start, chunk by chunk in the
// order written, with the bytes exactly as written. With follow it goes on
// until the job has ended and its output is all read. It returns fn's
// error, if any, or ctx's.
func (c *Client) Logs(ctx context.Context, id string, follow bool, fn func(stream core.Stream, data []byte) error) error {
	q := url.Values{}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := c.do(ctx, request{method: "GET", path: jobPath(id, "logs"), query: q})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			stream, data, derr := decodeChunk(line)
			if derr != nil {
				return fmt.Errorf("client: logs of job %s: %w", id, derr)
			}
			if ferr := fn(stream, data); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("client: logs of job %s: %w", id, err)
		}
	}
}

// decodeChunk reads one NDJSON line of a log stream.
func decodeChunk(line []byte) (core.Stream, []byte, error) {
	var c api.LogChunk
	if err := json.Unmarshal(line, &c); err != nil {
		return 0, nil, err
	}
	var stream core.Stream
	switch c.Stream {
	case api.LogChunkStreamStdout:
		stream = core.Stdout
	case api.LogChunkStreamStderr:
		stream = core.Stderr
	default:
		return 0, nil, fmt.Errorf("unknown stream %q", c.Stream)
	}
	if c.Encoding == nil {
		return stream, []byte(c.Data), nil
	}
	if *c.Encoding != api.LogChunkEncodingBase64 {
		return 0, nil, fmt.Errorf("unknown encoding %q", *c.Encoding)
	}
	data, err := base64.StdEncoding.DecodeString(c.Data)
	return stream, data, err
}

// Event is a change of a job or a snapshot (GET /v1/events).
type Event struct {
	// ID resumes the stream after this event (Events' lastEventID).
	ID       string
	Type     core.EventType
	Time     time.Time
	Job      *Job           // job events
	Snapshot *core.Snapshot // snapshot events
	GC       *core.SweepRun // gc.done
}

// Events calls fn with each event of the daemon, from the one after
// lastEventID ("" for those from now on; one the daemon no longer has
// gives every event it still keeps). A dropped connection is retried, and
// the stream resumes after the last event seen, so fn misses nothing the
// daemon still keeps. It returns fn's error, ctx's, or an error that
// retrying cannot mend (such as ErrUnauthorized).
func (c *Client) Events(ctx context.Context, lastEventID string, fn func(Event) error) error {
	var b backoff
	for {
		got, err := c.events(ctx, &lastEventID, fn)
		var fnErr *callbackError
		switch {
		case errors.As(err, &fnErr):
			return fnErr.err
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !transient(err):
			return err
		}
		if got {
			b.reset()
		}
		if serr := b.sleep(ctx, err); serr != nil {
			return serr
		}
	}
}

// callbackError carries the error of Events' fn through the stream.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// events reads one connection's events, updating lastID; got says whether
// the connection was made.
func (c *Client) events(ctx context.Context, lastID *string, fn func(Event) error) (got bool, err error) {
	r := request{method: "GET", path: "/v1/events", header: http.Header{"Accept": {api.MediaSSE}}}
	if *lastID != "" {
		r.header.Set("Last-Event-ID", *lastID)
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var id, typ string
	var data []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the daemon ended the stream: reconnect
			}
			return true, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" { // the end of an event
			if typ != "" || data != nil {
				ev, derr := decodeEvent(id, typ, data)
				if derr != nil {
					return true, &callbackError{fmt.Errorf("client: event %s: %w", id, derr)}
				}
				if ferr := fn(ev); ferr != nil {
					return true, &callbackError{ferr}
				}
				if id != "" {
					*lastID = id
				}
			}
			id, typ, data = "", "", nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "": // a comment: a heartbeat
		case "id":
			id = value
		case "event":
			typ = value
		case "data":
			if data != nil {
				data = append(data, '\n')
			}
			data = append(data, value...)
		}
	}
}

// decodeEvent makes the Event of an SSE event.
func decodeEvent(id, typ string, data []byte) (Event, error) {
	var d struct {
		Type     core.EventType `json:"type"`
		Time     time.Time      `json:"time"`
		Job      *Job           `json:"job"`
		Snapshot *core.Snapshot `json:"snapshot"`
		GC       *core.SweepRun `json:"gc"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return Event{}, err
	}
	if d.Type == "" {
		d.Type = core.EventType(typ)
	}
	return Event{ID: id, Type: d.Type, Time: d.Time, Job: d.Job, Snapshot: d.Snapshot, GC: d.GC}, nil
}
