package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// errDetached ends the wait of a job the Core left running (Detach).
var errDetached = errors.New("left running for the next owner")

// wait streams the output and waits for the container's end, stopping it
// on timeout or when ctx ends. It fills in the exit status.
func (r *jobRun) wait(ctx context.Context) error {
	// The output is copied for as long as the job runs, whatever its
	// length; cancelling the job ends the copy below.
	logCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLogs()
	logsDone := make(chan error, 1)
	stdout, stderr := orDiscard(r.job.Stdout), orDiscard(r.job.Stderr)
	go func() { logsDone <- r.copyLogs(logCtx, stdout, stderr) }()

	// waitCtx ends with the job's timeout, and with errDetached when the
	// Core detaches (the job is left running).
	detachCtx, detach := context.WithCancelCause(ctx)
	defer detach(nil)
	if r.detach != nil {
		defer context.AfterFunc(r.detach, func() { detach(errDetached) })()
	}
	waitCtx, cancel := context.Context(detachCtx), context.CancelFunc(func() {})
	if r.timeout != 0 {
		waitCtx, cancel = context.WithTimeout(detachCtx, max(r.timeout, time.Nanosecond))
	}
	st, down, err := r.waitEngine(waitCtx)
	cancel()
	if err == nil && !down && st.ExitCode > 128 && !st.OOMKilled {
		down = r.engineStopping(ctx)
	}
	var waitErr error
	switch {
	case err == nil && down && st.ExitCode > 128 && !st.OOMKilled:
		// The engine went down mid-job and killed the container on its way
		// (dockerd stops its containers as it stops): the end is the
		// engine's doing, not the job's.
		waitErr = fmt.Errorf("%w: the engine stopped while the job ran, and its container ended with %d",
			runtime.ErrUnavailable, st.ExitCode)
	case err == nil:
	case ctx.Err() != nil:
		r.res.Cancelled = true
		st, err = r.stop(ctx)
	case errors.Is(context.Cause(detachCtx), errDetached):
		stopLogs()
		<-logsDone
		return errDetached
	case waitCtx.Err() != nil:
		r.res.TimedOut = true
		st, err = r.stop(ctx)
	default:
		waitErr = fmt.Errorf("wait for container %s: %w", r.id, err)
		st, err = r.stop(ctx)
	}
	if err != nil && waitErr == nil {
		waitErr = fmt.Errorf("stop container %s: %w", r.id, err)
	}
	r.res.ExitCode, r.res.OOMKilled = st.ExitCode, st.OOMKilled

	// The container has exited: Logs returns once the output is copied.
	// A cancelled job does not wait for the rest of its output.
	if r.res.Cancelled {
		stopLogs()
	}
	drain, cancelDrain := cleanCtx(ctx)
	defer cancelDrain()
	select {
	case err := <-logsDone:
		if err != nil && logCtx.Err() == nil {
			r.log.Warn("copy output", "err", err)
		}
	case <-drain.Done():
		stopLogs()
		<-logsDone
	}
	return waitErr
}

// stop stops the container (grace period, then kill) and returns its exit.
// It runs to completion even when ctx is cancelled, within cleanupTimeout.
func (r *jobRun) stop(ctx context.Context) (runtime.ExitStatus, error) {
	ctx, cancel := cleanCtx(ctx)
	defer cancel()
	if err := r.rt.Stop(ctx, r.id, runtime.StopOptions{Grace: r.c.stopGrace()}); err != nil {
		return runtime.ExitStatus{ExitCode: -1}, err
	}
	return r.rt.Wait(ctx, r.id)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// engineWaitBudget is how long a job's wait rides out an engine that does
// not answer (restarted mid-job) before the job fails.
const engineWaitBudget = 2 * time.Minute

// waitEngine waits for the container's end; while the engine does not
// answer (runtime.ErrUnavailable) it tries again, backing off, for up to
// engineWaitBudget. A container the engine stopped as it went down ends
// with the exit the engine recorded; wasDown tells that the engine did not
// answer for a while.
func (r *jobRun) waitEngine(ctx context.Context) (st runtime.ExitStatus, wasDown bool, err error) {
	var down time.Time
	backoff := 100 * time.Millisecond
	for {
		st, err := r.rt.Wait(ctx, r.id)
		if err == nil || ctx.Err() != nil || !errors.Is(err, runtime.ErrUnavailable) {
			return st, !down.IsZero(), err
		}
		if down.IsZero() {
			down = time.Now()
			r.log.Warn("engine not answering: waiting for it", "container", r.id, "err", err)
		}
		if time.Since(down) > engineWaitBudget {
			return st, true, err
		}
		select {
		case <-ctx.Done():
			return st, true, err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// engineStopping reports whether the engine does not answer a ping right
// after a container ended by a signal berth did not send. dockerd stops its
// containers as it stops, after it stopped taking new connections, and
// answers the wait it was already serving: the end is the engine's doing.
func (r *jobRun) engineStopping(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	err := r.rt.Ping(ctx)
	if err != nil {
		r.log.Warn("engine not answering after its container ended by a signal", "container", r.id, "err", err)
	}
	return err != nil
}

// maxLogFollows bounds the follows of a job's output: a driver relaunched
// or an engine restarted mid-job breaks the follow, which starts again.
const maxLogFollows = 8

// copyLogs copies the container's output for as long as it runs. When the
// follow breaks (a driver process that died and was relaunched), it follows
// again from the start, skipping what was copied: nothing is lost or
// repeated.
func (r *jobRun) copyLogs(ctx context.Context, stdout, stderr io.Writer) error {
	out, errw := &resumeWriter{w: stdout}, &resumeWriter{w: stderr}
	for follow := 1; ; follow++ {
		err := r.rt.Logs(ctx, r.id, runtime.LogOptions{Follow: true}, out, errw)
		if err == nil || ctx.Err() != nil || follow == maxLogFollows || errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		r.log.Info("output follow broke: following again from the start", "container", r.id, "err", err)
		out.skip, errw.skip = out.n, errw.n
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Duration(follow)*500*time.Millisecond, 5*time.Second)):
		}
	}
}

// resumeWriter writes through to w what follows its first skip bytes, and
// counts what it wrote through.
type resumeWriter struct {
	w    io.Writer
	n    int64 // bytes written through
	skip int64 // bytes still to drop
}

func (w *resumeWriter) Write(p []byte) (int, error) {
	size := len(p)
	if w.skip > 0 {
		k := min(int64(len(p)), w.skip)
		p, w.skip = p[k:], w.skip-k
	}
	if len(p) > 0 {
		n, err := w.w.Write(p)
		w.n += int64(n)
		if err != nil {
			return size - len(p) + n, err
		}
	}
	return size, nil
}
