package wire

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berth-dev/berth/runtime"
)

// current returns the runtime of the live process, launching a new one if
// the last has exited.
func (d *Driver) current(ctx context.Context) (runtime.Runtime, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("driver %s: %w: closed", d.path, runtime.ErrUnavailable)
	}
	if d.pc == nil || d.pc.Exited() {
		if err := d.relaunchLocked(ctx, "driver process exited"); err != nil {
			return nil, err
		}
	}
	return d.rt, nil
}

// relaunch replaces the process behind old, unless that was done already.
func (d *Driver) relaunch(ctx context.Context, old runtime.Runtime, cause error) (runtime.Runtime, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("driver %s: %w: closed", d.path, runtime.ErrUnavailable)
	}
	if d.rt != old && d.rt != nil {
		return d.rt, nil
	}
	if err := d.relaunchLocked(ctx, cause.Error()); err != nil {
		return nil, err
	}
	return d.rt, nil
}

func (d *Driver) relaunchLocked(ctx context.Context, why string) error {
	d.logger.Warn("relaunching driver", "path", d.path, "reason", why)
	if d.pc != nil {
		d.quiet.Store(true)
		d.pc.Kill()
		d.pc, d.run, d.rt = nil, nil, nil
	}
	return d.launch(ctx)
}

// call runs f on the live process. If the process turns out to be dead, it
// is relaunched, and f is run again on the new one if retry is set.
func call[T any](ctx context.Context, d *Driver, retry bool, f func(runtime.Runtime) (T, error)) (T, error) {
	rt, err := d.current(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(rt)
	var te *transportError
	if !errors.As(err, &te) {
		return v, err
	}
	rt, rerr := d.relaunch(ctx, rt, err)
	if rerr != nil {
		return v, errors.Join(err, rerr)
	}
	if !retry {
		return v, err
	}
	return f(rt)
}

// call0 is call for methods that return only an error.
func call0(ctx context.Context, d *Driver, retry bool, f func(runtime.Runtime) error) error {
	_, err := call(ctx, d, retry, func(rt runtime.Runtime) (struct{}, error) { return struct{}{}, f(rt) })
	return err
}

// Info implements runtime.Runtime.
func (d *Driver) Info(ctx context.Context) (runtime.Info, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) (runtime.Info, error) { return rt.Info(ctx) })
}

// Ping implements runtime.Runtime.
func (d *Driver) Ping(ctx context.Context) error {
	return call0(ctx, d, true, func(rt runtime.Runtime) error { return rt.Ping(ctx) })
}

// InspectImage implements runtime.Runtime.
func (d *Driver) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) (runtime.Image, error) { return rt.InspectImage(ctx, ref) })
}

// PullImage implements runtime.Runtime.
func (d *Driver) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) (runtime.Image, error) { return rt.PullImage(ctx, ref) })
}

// LoadImage implements runtime.Runtime. It is never retried: r is consumed.
func (d *Driver) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) ([]runtime.Image, error) { return rt.LoadImage(ctx, r) })
}

// RemoveImage implements runtime.Runtime.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	return call0(ctx, d, false, func(rt runtime.Runtime) error { return rt.RemoveImage(ctx, ref) })
}

// ListImages implements runtime.Runtime.
func (d *Driver) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) ([]runtime.Image, error) { return rt.ListImages(ctx, filter) })
}

// Run implements runtime.Runtime.
func (d *Driver) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) (runtime.Container, error) { return rt.Run(ctx, spec) })
}

// Wait implements runtime.Runtime.
func (d *Driver) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) (runtime.ExitStatus, error) { return rt.Wait(ctx, id) })
}

// Stop implements runtime.Runtime.
func (d *Driver) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	return call0(ctx, d, true, func(rt runtime.Runtime) error { return rt.Stop(ctx, id, opts) })
}

// Logs implements runtime.Runtime. It is never retried: output may have been
// written already.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	return call0(ctx, d, false, func(rt runtime.Runtime) error { return rt.Logs(ctx, id, opts, stdout, stderr) })
}

// Commit implements runtime.Runtime.
func (d *Driver) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) (runtime.Image, error) { return rt.Commit(ctx, id, opts) })
}

// CopyImage implements runtime.ImageCopier; a driver that does not
// implement it answers runtime.ErrNotImplemented.
func (d *Driver) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) (runtime.Image, error) {
		cp, ok := rt.(runtime.ImageCopier)
		if !ok {
			return runtime.Image{}, fmt.Errorf("copy image: %w", runtime.ErrNotImplemented)
		}
		return cp.CopyImage(ctx, src, opts)
	})
}

// Changed implements runtime.ChangeChecker; a driver that does not
// implement it answers runtime.ErrNotImplemented.
func (d *Driver) Changed(ctx context.Context, id string) (bool, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) (bool, error) {
		cc, ok := rt.(runtime.ChangeChecker)
		if !ok {
			return false, fmt.Errorf("changed: %w", runtime.ErrNotImplemented)
		}
		return cc.Changed(ctx, id)
	})
}

// PushImage implements runtime.RegistryClient; a driver that does not
// implement it answers runtime.ErrNotImplemented. It is never retried: a
// relaunched driver would not know what the lost one left half done.
func (d *Driver) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (string, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) (string, error) {
		rc, ok := rt.(runtime.RegistryClient)
		if !ok {
			return "", fmt.Errorf("push image: %w", runtime.ErrNotImplemented)
		}
		return rc.PushImage(ctx, ref, dest, opts)
	})
}

// PullDigest implements runtime.RegistryClient; a driver that does not
// implement it answers runtime.ErrNotImplemented.
func (d *Driver) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	return call(ctx, d, false, func(rt runtime.Runtime) (runtime.Image, error) {
		rc, ok := rt.(runtime.RegistryClient)
		if !ok {
			return runtime.Image{}, fmt.Errorf("pull digest: %w", runtime.ErrNotImplemented)
		}
		return rc.PullDigest(ctx, src, opts)
	})
}

// Remove implements runtime.Runtime.
func (d *Driver) Remove(ctx context.Context, id string) error {
	return call0(ctx, d, false, func(rt runtime.Runtime) error { return rt.Remove(ctx, id) })
}

// InspectContainer implements runtime.Runtime.
func (d *Driver) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) (runtime.Container, error) { return rt.InspectContainer(ctx, id) })
}

// ListContainers implements runtime.Runtime.
func (d *Driver) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	return call(ctx, d, true, func(rt runtime.Runtime) ([]runtime.Container, error) { return rt.ListContainers(ctx, filter) })
}
