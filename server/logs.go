package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	follow := false
	if f := r.URL.Query().Get("follow"); f != "" {
		switch f {
		case "true", "1":
			follow = true
		case "false", "0":
		default:
			s.invalid(w, r, api.KindInvalidRequest, "follow %q: want true or false", f)
			return
		}
	}
	if _, err := s.core.GetJob(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	release, ok := s.openStream(w, r, "logs")
	if !ok {
		return
	}
	defer release()
	ctx, cancel := s.context(r)
	defer cancel()

	w.Header().Set("Content-Type", api.MediaNDJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	sw := s.streamWriter(w)
	if err := sw.flush(); err != nil {
		return
	}
	err := s.core.JobLogs(ctx, id, core.LogsOptions{Follow: follow}, func(c core.LogChunk) error {
		line, err := json.Marshal(logChunk(c))
		if err != nil {
			return err
		}
		return sw.write(append(line, '\n'))
	})
	if err != nil && ctx.Err() == nil {
		// The status is sent: the stream can only end early.
		s.log.Info("log stream ended early", "job", id, "err", err)
	}
}

// logChunk is the API's form of a chunk of output: its bytes as text, or
// in base64 when they are not valid UTF-8 (so they arrive exactly).
func logChunk(c core.LogChunk) api.LogChunk {
	out := api.LogChunk{Stream: api.LogChunkStream(c.Stream.String())}
	if utf8.Valid(c.Data) {
		out.Data = string(c.Data)
		return out
	}
	enc := api.LogChunkEncodingBase64
	out.Data, out.Encoding = base64.StdEncoding.EncodeToString(c.Data), &enc
	return out
}

// openStream takes a stream slot, or answers 503 too-many-streams when
// they are all taken. release gives the slot back.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request, kind string) (release func(), ok bool) {
	select {
	case s.streams <- struct{}{}:
	default:
		s.problem(w, r, http.StatusServiceUnavailable, api.KindTooManyStreams,
			"the daemon serves its most streams at once; retry later")
		return nil, false
	}
	g := s.metrics.streams.WithLabelValues(kind)
	g.Inc()
	return func() {
		g.Dec()
		<-s.streams
	}, true
}

// streamWriter writes to a stream, each write under the write timeout and
// flushed at once.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *Server) streamWriter(w http.ResponseWriter) *streamWriter {
	return &streamWriter{w: w, rc: http.NewResponseController(w), timeout: s.opts.WriteTimeout}
}

func (sw *streamWriter) write(p []byte) error {
	if err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := sw.w.Write(p); err != nil {
		return err
	}
	return sw.flush()
}

func (sw *streamWriter) flush() error {
	err := sw.rc.Flush()
	if errors.Is(err, http.ErrNotSupported) {
		return nil
	}
	return err
}
