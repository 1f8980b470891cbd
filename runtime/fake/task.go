package fake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/runtime"
)

// task is a container running (or having run) in this process.
type task struct {
	id        string
	argv, env []string
	dir       string
	hang      bool // OpExit fault: it runs until killed
	sh        *shell
	out       *logBuf
	done      chan struct{}
	status    runtime.ExitStatus // set before done is closed
}

func (t *task) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// start runs t in a goroutine, and (with a state dir) watch in another.
func (r *Runtime) start(t *task) {
	go func() {
		growStack(0)
		st := t.sh.run(t.argv, t.env, t.dir, logWriter{t.out, 1}, logWriter{t.out, 2})
		if t.hang {
			<-t.sh.killed
			st = runtime.ExitStatus{ExitCode: 137}
		}
		r.finish(t, st)
	}()
	if r.dir != "" {
		go r.watch(t)
	}
}

// growStack grows the goroutine's stack at once, while it is shallow:
// growing it deep in the interpreter costs more than a short script.
//
//go:noinline
func growStack(i int) byte {
	var b [32 << 10]byte
	b[i] = 1
	return b[len(b)-1-i]
}

// finish records the exit of t and its file system changes.
func (r *Runtime) finish(t *task, status runtime.ExitStatus) {
	diff := t.sh.fs.diff()
	err := r.update(func(st *state) error {
		c := st.Containers[t.id]
		if c == nil {
			return errGone
		}
		id := "changes-" + c.ID
		if err := r.putBlob(id, diff); err != nil {
			return err
		}
		c.State, c.Exit, c.Upper = runtime.StateExited, status, id
		return nil
	})
	t.status = status
	t.out.close()
	if errors.Is(err, errGone) {
		r.mu.Lock()
		delete(r.tasks, t.id)
		r.mu.Unlock()
		r.removeLogs(t.id)
	}
	close(t.done)
}

var errGone = errors.New("gone")

// watch obeys the Remove and Stop of t by other processes.
func (r *Runtime) watch(t *task) {
	seen := 0
	for range time.Tick(r.cfg.poll) {
		if t.exited() {
			return
		}
		_ = r.view(func(st *state) error {
			if c := st.Containers[t.id]; c == nil {
				t.sh.signal(sigKILL)
			} else if c.SignalSeq > seen {
				seen = c.SignalSeq
				t.sh.signal(c.Signal)
			}
			return nil
		})
	}
}

// Stop signals the container and kills it after the grace period.
func (r *Runtime) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	return call0(ctx, r, OpStop, func() error {
		sig, ok := 15, true
		if opts.Signal != "" {
			sig, ok = parseSignal(opts.Signal)
		}
		if !ok {
			return fmt.Errorf("fake: unknown signal %q: %w", opts.Signal, runtime.ErrInvalidArgument)
		}
		if opts.Grace <= 0 {
			sig = sigKILL
		}
		cid, state, _, t, err := r.lookupContainer(id)
		switch {
		case err != nil || state != runtime.StateRunning:
			return err
		case t != nil:
			t.sh.signal(sig)
			select {
			case <-t.done:
			case <-time.After(opts.Grace):
			case <-ctx.Done():
			}
			t.sh.signal(sigKILL)
			<-t.done
		default:
			err = r.stopRemote(ctx, cid, sig, opts.Grace)
		}
		if err == nil && ctx.Err() != nil {
			err = errCtx(ctx, "stop (the container was killed)")
		}
		return err
	})
}

// stopRemote records the signal for the process running the container to
// deliver, then the kill, which ctx does not abandon: the owner obeys
// within its poll interval, or has died, which counts as exited.
func (r *Runtime) stopRemote(ctx context.Context, cid string, sig int, grace time.Duration) error {
	for _, sig := range []int{sig, sigKILL} {
		err := r.update(func(st *state) error {
			c := st.Containers[cid]
			if c == nil {
				return fmt.Errorf("fake: container %q: %w", cid, runtime.ErrNotFound)
			}
			c.Signal, c.SignalSeq = sig, c.SignalSeq+1
			return nil
		})
		if err != nil {
			return err
		}
		base := ctx
		if sig == sigKILL {
			base, grace = context.WithoutCancel(ctx), 10*time.Second+100*r.cfg.poll
		}
		wctx, cancel := context.WithTimeout(base, grace)
		_, err = r.wait(wctx, cid)
		cancel()
		if err == nil || wctx.Err() == nil {
			return err
		}
	}
	return fmt.Errorf("fake: container %s did not exit after the kill: %w", cid, runtime.ErrUnavailable)
}

// Logs copies the container's output: from memory, or another process's
// log files.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	return call0(ctx, r, OpLogs, func() error {
		cid, _, _, t, err := r.lookupContainer(id)
		w, off := [3]io.Writer{nil, stdout, stderr}, [3]int{}
		for err == nil {
			var out [3][]byte
			var running bool
			var notify <-chan struct{}
			var tick <-chan time.Time
			if t != nil {
				out, running, notify = t.out.since(off)
			} else {
				var state runtime.ContainerState
				_, state, _, _, err = r.lookupContainer(cid)
				for fd := 1; fd <= 2; fd++ {
					b, _ := os.ReadFile(r.logPath(cid, fd)) // none yet if missing
					out[fd] = b[min(off[fd], len(b)):]
				}
				running, tick = state == runtime.StateRunning, time.After(r.cfg.poll)
			}
			for fd := 1; fd <= 2 && err == nil; fd++ {
				if off[fd] += len(out[fd]); len(out[fd]) > 0 && w[fd] != nil {
					_, err = w[fd].Write(out[fd])
				}
			}
			if err != nil || !opts.Follow || !running {
				return err
			}
			select {
			case <-notify:
			case <-tick:
			case <-ctx.Done():
				return errCtx(ctx, "logs")
			}
		}
		return err
	})
}

// logBuf holds a container's output (and copies it to files).
type logBuf struct {
	mu     sync.Mutex
	data   [3][]byte // by fd: 1 stdout, 2 stderr
	paths  [3]string // log files, created at the first write
	files  [3]*os.File
	notify chan struct{} // closed at each write
	closed bool
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
		b.files[w.fd], _ = os.OpenFile(b.paths[w.fd], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
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
}

// since returns the output after off, whether more may come, and a
// channel closed at the next write.
func (b *logBuf) since(off [3]int) ([3][]byte, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return [3][]byte{nil, b.data[1][off[1]:], b.data[2][off[2]:]}, !b.closed, b.notify
}

const sigKILL = 9

// parseSignal reads "SIGTERM", "TERM" or "15".
func parseSignal(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 1 && n <= 64
	}
	n := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	return int(n), n != 0
}
