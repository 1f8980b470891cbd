package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/berth-dev/berth/runtime"
)

// logPoll is how often a following Logs looks for new output.
const logPoll = 25 * time.Millisecond

// Logs copies the container's output from its log files; with Follow it
// keeps copying until the task has exited and all its output is written.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	p := d.proc(id)
	var cont client.Container
	if p == nil {
		var err error
		if cont, err = d.load(ctx, id); err != nil {
			return err
		}
		// Attaching also when not following keeps the output flowing
		// into the files if the driver that started the container is
		// gone.
		if p, err = d.attach(ctx, cont); err != nil {
			return err
		}
	}
	dir := d.containerDir(id)
	tails := []*tail{{path: filepath.Join(dir, "stdout"), w: stdout}, {path: filepath.Join(dir, "stderr"), w: stderr}}
	defer func() {
		for _, t := range tails {
			t.close()
		}
	}()
	copyAll := func() error {
		for _, t := range tails {
			if err := t.copy(); err != nil {
				return fmt.Errorf("logs %s: %w", id, err)
			}
		}
		return nil
	}
	if !opts.Follow {
		return copyAll()
	}
	ticker := time.NewTicker(logPoll)
	defer ticker.Stop()
	for {
		finished, err := d.outputComplete(ctx, cont, p)
		if err != nil {
			return err
		}
		if err := copyAll(); err != nil {
			return err
		}
		if finished {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("logs %s: %w", id, ctx.Err())
		case <-d.ctx.Done():
			return fmt.Errorf("logs %s: driver closed: %w", id, runtime.ErrUnavailable)
		case <-ticker.C:
		case <-p.doneOrNil():
		}
	}
}

// outputComplete reports whether the container's output is all in its log
// files: its task has exited and no process copies its output any more.
func (d *Driver) outputComplete(ctx context.Context, cont client.Container, p *proc) (bool, error) {
	if p != nil {
		select {
		case <-p.done:
			return true, nil
		default:
			return false, nil
		}
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return true, nil
		}
		return false, d.wrap(ctx, err, "logs %s", cont.ID())
	}
	st, err := task.Status(ctx)
	if err != nil {
		return false, d.wrap(ctx, err, "logs %s", cont.ID())
	}
	if st.Status != client.Stopped && st.Status != client.Unknown {
		return false, nil
	}
	return !d.copying(cont.ID()), nil
}

// doneOrNil returns the proc's done channel, nil (blocks forever in a
// select) for a nil proc.
func (p *proc) doneOrNil() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.done
}

// tail copies a growing file into a writer.
type tail struct {
	path string
	w    io.Writer
	f    *os.File
}

// copy writes what has been appended to the file since the last call.
func (t *tail) copy() error {
	if t.f == nil {
		f, err := os.Open(t.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		t.f = f
	}
	w := t.w
	if w == nil {
		w = io.Discard
	}
	_, err := io.Copy(w, t.f)
	return err
}

func (t *tail) close() {
	if t.f != nil {
		t.f.Close()
	}
}
