package fake

import (
	"context"
	"io"
	"os"

	"github.com/berth-dev/berth/runtime"
)

// Logs copies the container's output. With a state dir, the output of
// other processes' containers is read from the log files.
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	_, err := call(ctx, r, OpLogs, func() (struct{}, error) {
		cid, _, _, err := r.lookupContainer(id)
		if err != nil {
			return struct{}{}, err
		}
		if t := r.localTask(cid); t != nil {
			return struct{}{}, t.out.copyTo(ctx, opts.Follow, stdout, stderr)
		}
		if r.disk == nil {
			return struct{}{}, nil
		}
		return struct{}{}, r.logsRemote(ctx, cid, opts.Follow, [3]io.Writer{nil, stdout, stderr})
	})
	return err
}

func (r *Runtime) logsRemote(ctx context.Context, cid string, follow bool, w [3]io.Writer) error {
	var off [3]int64
	for {
		_, state, _, err := r.lookupContainer(cid)
		if err != nil {
			return err
		}
		for fd := 1; fd <= 2; fd++ {
			n, err := copyFrom(r.disk.logPath(cid, fd), off[fd], w[fd])
			off[fd] += n
			if err != nil {
				return err
			}
		}
		if !follow || state != runtime.StateRunning {
			return nil
		}
		if err := sleepCtx(ctx, r.cfg.poll); err != nil {
			return errCtx(ctx, "logs")
		}
	}
}

// copyFrom copies file name from offset off to w.
func copyFrom(name string, off int64, w io.Writer) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, nil
	}
	if w == nil {
		w = io.Discard
	}
	return io.Copy(w, f)
}
