package fake

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// task is a container running (or having run) in this process.
type task struct {
	id     string
	sh     *shell
	done   chan struct{}
	status runtime.ExitStatus // set before done is closed
	out    *logBuf
}

func newTask(id string) *task {
	return &task{id: id, done: make(chan struct{}), out: newLogBuf()}
}

// kill ends the script at once (exit 137).
func (t *task) kill() { t.signal(sigKILL) }

// signal delivers signal n to the script.
func (t *task) signal(n int) { t.sh.signal(n) }

func (t *task) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// program is what a task runs.
type program struct {
	argv []string
	env  []string
	cwd  string
	fs   *cfs
	mem  int64
	hang bool // OpExit fault: do not exit until killed
}

// start runs p for t in a goroutine; with a state dir, another goroutine
// watches for Stop and Remove from other processes.
func (r *Runtime) start(t *task, p program) {
	t.sh = newShell(p.fs, p.mem, sha256.Sum256([]byte(t.id)))
	go func() {
		st := t.sh.run(p.argv, p.env, p.cwd, t.out.writer(1), t.out.writer(2))
		if p.hang {
			<-t.sh.killed
			st = runtime.ExitStatus{ExitCode: 137}
		}
		r.finish(t, p.fs, st)
	}()
	if r.disk != nil {
		go r.watch(t)
	}
}

// finish records the exit of t and its file system changes.
func (r *Runtime) finish(t *task, fs *cfs, st runtime.ExitStatus) {
	diff := fs.diff()
	err := r.update(func(s *state) error {
		c := s.Containers[t.id]
		if c == nil {
			return errGone
		}
		id, err := r.putBlob(diff)
		if err != nil {
			return err
		}
		c.State, c.Exit, c.Upper = runtime.StateExited, st, id
		return nil
	})
	t.status = st
	t.out.close()
	if errors.Is(err, errGone) {
		r.mu.Lock()
		delete(r.tasks, t.id)
		r.mu.Unlock()
		if r.disk != nil {
			r.disk.removeLogs(t.id)
		}
	}
	close(t.done)
}

// watch polls the state for Remove (the container is gone: kill it) and
// Stop (a signal request) made by other processes.
func (r *Runtime) watch(t *task) {
	tick := time.NewTicker(r.cfg.poll)
	defer tick.Stop()
	seen := 0
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		var gone bool
		var sig, seq int
		err := r.view(func(st *state) error {
			c := st.Containers[t.id]
			if c == nil {
				gone = true
				return nil
			}
			sig, seq = c.Signal, c.SignalSeq
			return nil
		})
		if err != nil {
			continue
		}
		if gone {
			t.kill()
			return
		}
		if seq > seen {
			seen = seq
			t.signal(sig)
		}
	}
}

// logBuf holds a container's output, and copies it to files with a state
// dir.
type logBuf struct {
	mu     sync.Mutex
	data   [3][]byte // by fd: 1 stdout, 2 stderr
	paths  [3]string // log files, created at the first write
	files  [3]*os.File
	notify chan struct{} // closed at each write
	closed bool
}

func newLogBuf() *logBuf {
	return &logBuf{notify: make(chan struct{})}
}

func (b *logBuf) writer(fd int) io.Writer {
	return logWriter{b: b, fd: fd}
}

type logWriter struct {
	b  *logBuf
	fd int
}

func (w logWriter) Write(p []byte) (int, error) {
	b := w.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return len(p), nil
	}
	b.data[w.fd] = append(b.data[w.fd], p...)
	if b.files[w.fd] == nil && b.paths[w.fd] != "" {
		f, err := os.OpenFile(b.paths[w.fd], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			b.files[w.fd] = f
		}
	}
	if f := b.files[w.fd]; f != nil {
		_, _ = f.Write(p)
	}
	close(b.notify)
	b.notify = make(chan struct{})
	return len(p), nil
}

func (b *logBuf) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, f := range b.files {
		if f != nil {
			f.Close()
		}
	}
	close(b.notify)
	b.notify = make(chan struct{})
}

// copyTo copies the output to the writers, until the container exits if
// follow.
func (b *logBuf) copyTo(ctx context.Context, follow bool, stdout, stderr io.Writer) error {
	var off [3]int
	w := [3]io.Writer{nil, stdout, stderr}
	for {
		b.mu.Lock()
		var chunks [3][]byte
		for fd := 1; fd <= 2; fd++ {
			chunks[fd] = b.data[fd][off[fd]:]
			off[fd] = len(b.data[fd])
		}
		closed, notify := b.closed, b.notify
		b.mu.Unlock()
		for fd := 1; fd <= 2; fd++ {
			if len(chunks[fd]) > 0 && w[fd] != nil {
				if _, err := w[fd].Write(chunks[fd]); err != nil {
					return err
				}
			}
		}
		if !follow || closed {
			return nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return errCtx(ctx, "logs")
		}
	}
}

const sigKILL = 9

var signalNumbers = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
	"URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31,
}

// parseSignal reads "SIGTERM", "TERM" or "15".
func parseSignal(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 1 && n <= 64
	}
	n, ok := signalNumbers[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	return n, ok
}

func signalName(n int) string {
	for name, m := range signalNumbers {
		if m == n {
			return name
		}
	}
	return strconv.Itoa(n)
}
