package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Stop signals the container and kills it after the grace period. A zero
// Grace kills at once.
func (r *Runtime) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	_, err := call(ctx, r, OpStop, func() (struct{}, error) {
		sig := 15
		if opts.Signal != "" {
			n, ok := parseSignal(opts.Signal)
			if !ok {
				return struct{}{}, fmt.Errorf("fake: unknown signal %q: %w", opts.Signal, runtime.ErrInvalidArgument)
			}
			sig = n
		}
		if opts.Grace <= 0 {
			sig = sigKILL
		}
		cid, state, _, err := r.lookupContainer(id)
		if err != nil || state != runtime.StateRunning {
			return struct{}{}, err
		}
		if t := r.localTask(cid); t != nil {
			return struct{}{}, stopLocal(ctx, t, sig, opts.Grace)
		}
		return struct{}{}, r.stopRemote(ctx, cid, sig, opts.Grace)
	})
	return err
}

func stopLocal(ctx context.Context, t *task, sig int, grace time.Duration) error {
	t.signal(sig)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-t.done:
		return nil
	case <-timer.C:
		t.kill()
		<-t.done
		return nil
	case <-ctx.Done():
		t.kill()
		<-t.done
		return errCtx(ctx, "stop (the container was killed)")
	}
}

// stopRemote stops a container another process runs: it records the
// signal for that process to deliver, then the kill.
func (r *Runtime) stopRemote(ctx context.Context, cid string, sig int, grace time.Duration) error {
	request := func(sig int) error {
		return r.update(func(st *state) error {
			c := st.Containers[cid]
			if c == nil {
				return fmt.Errorf("fake: container %q: %w", cid, runtime.ErrNotFound)
			}
			c.Signal = sig
			c.SignalSeq++
			return nil
		})
	}
	// exitedBy polls until the container has exited or the deadline.
	exitedBy := func(ctx context.Context, deadline time.Time) (bool, error) {
		for {
			_, state, _, err := r.lookupContainer(cid)
			if err != nil {
				return false, err
			}
			if state != runtime.StateRunning {
				return true, nil
			}
			if !time.Now().Before(deadline) {
				return false, nil
			}
			if err := sleepCtx(ctx, min(r.cfg.poll, time.Until(deadline))); err != nil {
				return false, nil
			}
		}
	}
	if err := request(sig); err != nil {
		return err
	}
	if sig != sigKILL {
		done, err := exitedBy(ctx, time.Now().Add(grace))
		if err != nil || done {
			return err
		}
		if err := request(sigKILL); err != nil {
			return err
		}
	}
	// The kill is not abandoned with ctx; the owner polls every poll
	// interval, or has died, which counts as exited.
	done, err := exitedBy(context.Background(), time.Now().Add(10*time.Second+100*r.cfg.poll))
	if err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("fake: container %s did not exit after the kill: %w", cid, runtime.ErrUnavailable)
	}
	if ctx.Err() != nil {
		return errCtx(ctx, "stop (the container was killed)")
	}
	return nil
}
