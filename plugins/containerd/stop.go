package containerd

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/signal"

	"github.com/berth-dev/berth/runtime"
)

const sigkill = syscall.SIGKILL

// killWait bounds the wait for a killed container's exit once the caller's
// context has ended.
const killWait = 30 * time.Second

// Stop sends opts.Signal (default SIGTERM), waits up to opts.Grace for the
// exit, then kills the container. Cancelling ctx cuts the grace period
// short: the container is killed and Stop returns ctx's error.
func (d *Driver) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	sig := syscall.SIGTERM
	if opts.Signal != "" {
		s, err := signal.ParseSignal(opts.Signal)
		if err != nil {
			return invalid("signal %q: %v", opts.Signal, err)
		}
		sig = s
	}
	if opts.Grace < 0 {
		return invalid("negative grace period %s", opts.Grace)
	}
	cont, err := d.load(ctx, id)
	if err != nil {
		return err
	}
	p, err := d.attach(ctx, cont)
	if err != nil {
		return err
	}
	task := p.taskOrNil()
	if task == nil {
		t, err := cont.Task(ctx, nil)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return nil
			}
			return d.wrap(ctx, err, "stop %s", id)
		}
		task = t
	}
	exited, err := d.exited(ctx, task, p)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return d.wrap(ctx, err, "stop %s: signal %s", id, sig)
	}
	timer := time.NewTimer(opts.Grace)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), killWait)
	defer cancel()
	if err := task.Kill(kctx, sigkill, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return d.wrap(kctx, err, "stop %s: kill", id)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
}

// taskOrNil returns the proc's task, nil for a nil proc.
func (p *proc) taskOrNil() taskHandle {
	if p == nil {
		return nil
	}
	return p.task
}
