package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// A submitted job's output is kept in a file of its own, as frames: one
// byte for the stream, four for the length (big-endian), then the bytes.
// The job writes at its pace; readers read the file at theirs.
const (
	frameHeader = 5
	// maxFrame splits larger writes, so that a reader's buffer is bounded.
	maxFrame = 32 << 10
)

// jobLog is the output file of a live job.
type jobLog struct {
	mu      sync.Mutex
	f       *os.File
	err     error         // the first write error; later output is dropped
	changed chan struct{} // closed and replaced on every write and at close
	closed  bool
}

func logPath(dir, id string) string { return filepath.Join(dir, id+".log") }

// createLog creates (or truncates: a job taken over copies its output
// again from its start) the output file of job id.
func createLog(dir, id string) (*jobLog, error) {
	f, err := os.OpenFile(logPath(dir, id), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("job log: %w", err)
	}
	return &jobLog{f: f, changed: make(chan struct{})}, nil
}

// writer returns the writer of stream s.
func (l *jobLog) writer(s Stream) io.Writer { return logWriter{l, s} }

type logWriter struct {
	l *jobLog
	s Stream
}

// Write never fails the job: an output file that cannot be written loses
// the output, and the job goes on.
func (w logWriter) Write(p []byte) (int, error) {
	n := len(p)
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.err != nil {
		return n, nil
	}
	buf := make([]byte, 0, frameHeader+min(len(p), maxFrame))
	for len(p) > 0 {
		k := min(len(p), maxFrame)
		buf = append(buf[:0], byte(w.s), 0, 0, 0, 0)
		binary.BigEndian.PutUint32(buf[1:frameHeader], uint32(k))
		buf = append(buf, p[:k]...)
		if _, err := l.f.Write(buf); err != nil {
			l.err = err
			break
		}
		p = p[k:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return n, nil
}

// wake returns a channel closed at the next write or at close.
func (l *jobLog) wake() (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed, l.closed
}

// close ends the output: followers read to the end and return.
func (l *jobLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.f.Close()
	close(l.changed)
}

// readLog calls fn with the frames of the output file path from its start.
// With live non-nil it follows the file until live is closed, then reads
// what is left. A frame cut short (being written) is read once complete.
func readLog(ctx context.Context, path string, live *jobLog, fn func(LogChunk) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no output yet, or none kept
	}
	if err != nil {
		return fmt.Errorf("job log: %w", err)
	}
	defer f.Close()
	var off int64
	buf := make([]byte, 64<<10)
	pending := 0 // bytes of buf read but not yet handed out
	for {
		var wake <-chan struct{}
		closed := true
		if live != nil {
			wake, closed = live.wake()
		}
		n, err := f.ReadAt(buf[pending:], off)
		off += int64(n)
		pending += n
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("job log: %w", err)
		}
		used, ferr := frames(buf[:pending], fn)
		if ferr != nil {
			return ferr
		}
		pending = copy(buf, buf[used:pending])
		if n > 0 {
			continue
		}
		if closed {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// frames hands out the complete frames in b and returns the bytes they
// took.
func frames(b []byte, fn func(LogChunk) error) (int, error) {
	used := 0
	for len(b)-used >= frameHeader {
		k := int(binary.BigEndian.Uint32(b[used+1 : used+frameHeader]))
		if k > maxFrame {
			return used, errors.New("job log: corrupt frame")
		}
		if len(b)-used < frameHeader+k {
			break
		}
		s := Stream(b[used])
		data := b[used+frameHeader : used+frameHeader+k]
		if err := fn(LogChunk{Stream: s, Data: data}); err != nil {
			return used, err
		}
		used += frameHeader + k
	}
	return used, nil
}
