package podman

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// waitInterval is how often the service polls the container's state while
// a wait request blocks (its first poll blocks on conmon's pidfd instead).
const waitInterval = "50ms"

// Wait blocks until the container has exited and returns its status, read
// from inspect of the exited container.
func (d *Driver) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	for {
		data, err := d.inspect(ctx, id)
		if err != nil {
			return runtime.ExitStatus{}, err
		}
		if data.State != nil && data.State.Status == define.ContainerStateExited.String() {
			return runtime.ExitStatus{
				ExitCode:  int(data.State.ExitCode),
				OOMKilled: data.State.OOMKilled,
				Error:     data.State.Error,
			}, nil
		}
		if err := d.waitExit(ctx, data.ID); err != nil {
			return runtime.ExitStatus{}, err
		}
	}
}

// waitExit blocks on the service's wait endpoint until the container has
// exited. It returns as soon as ctx is done: the request runs in a
// goroutine because the bindings sleep between retries of a failed request.
func (d *Driver) waitExit(ctx context.Context, id string) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		interval := waitInterval
		_, err := containers.Wait(c, id, &containers.WaitOptions{
			Conditions: []string{define.ContainerStateExited.String(), define.ContainerStateStopped.String()},
			Interval:   &interval,
		})
		done <- err
	}()
	select {
	case err := <-done:
		return d.wrap(ctx, "wait "+id, err)
	case <-ctx.Done():
		return fmt.Errorf("podman: wait %s: %w", id, ctx.Err())
	}
}

// Stop sends opts.Signal, waits up to opts.Grace for the exit, then kills
// the container and waits for the exit.
func (d *Driver) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	if opts.Grace < 0 {
		return invalid("stop", "negative grace %v", opts.Grace)
	}
	sig := opts.Signal
	if sig == "" {
		sig = "SIGTERM"
	}
	data, err := d.inspect(ctx, id)
	if err != nil {
		return err
	}
	if toState(data.State.Status) != runtime.StateRunning {
		return nil // exited, or never started: nothing to stop
	}
	id = data.ID
	if err := d.kill(ctx, id, sig); err != nil {
		return err
	}
	if sig == "SIGKILL" || sig == "KILL" || sig == "9" {
		return d.waitExit(ctx, id)
	}
	graceCtx, cancel := context.WithTimeout(ctx, opts.Grace)
	err = d.waitExit(graceCtx, id)
	cancel()
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	// Grace is over, or ctx was cancelled: kill regardless.
	killCtx, cancelKill := background(ctx)
	defer cancelKill()
	if err := d.kill(killCtx, id, "SIGKILL"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("podman: stop %s: killed: %w", id, err)
	}
	return d.waitExit(ctx, id)
}

// kill sends sig to the container's main process; a container that is no
// longer running is not an error.
func (d *Driver) kill(ctx context.Context, id, sig string) error {
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	err = containers.Kill(c, id, new(containers.KillOptions).WithSignal(sig))
	if err == nil || isStatus(err, http.StatusConflict) {
		return nil // sent, or it exited meanwhile
	}
	// Podman answers a kill of a container that exited meanwhile with 500
	// ("can only kill running containers ... container state improper")
	// as well: ask again how the container is.
	if data, ierr := d.inspect(ctx, id); ierr == nil && toState(data.State.Status) != runtime.StateRunning {
		return nil
	}
	return d.wrap(ctx, "kill "+id, err)
}
