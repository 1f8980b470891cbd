package containerd

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
)

// taskHandle is what the driver uses of a task: a client.Task (found with
// Container.Task) or a directTask (made by Run).
type taskHandle interface {
	ID() string
	Start(ctx context.Context) error
	Wait(ctx context.Context) (<-chan client.ExitStatus, error)
	Kill(ctx context.Context, sig syscall.Signal, opts ...client.KillOpts) error
	Status(ctx context.Context) (client.Status, error)
	Delete(ctx context.Context, opts ...client.ProcessDeleteOpts) (*client.ExitStatus, error)
	IO() cio.IO
}

var (
	_ taskHandle = client.Task(nil)
	_ taskHandle = (*directTask)(nil)
)

// directTask is a task addressed through the task service by its
// container's ID: one the driver created itself, with the root file system
// mounts it got from Prepare, or (with a nil io) any task to kill and
// delete. It saves the round trips of client.Container.NewTask (which
// reloads the container record three times and asks the snapshotter for
// the mounts again) and of client.Task.Delete (a status check): Delete
// must only be called once the task has stopped. Its methods are those of
// client.Task.
type directTask struct {
	c  *client.Client
	id string
	io cio.IO
}

// createTask creates the task of container id with its root file system
// on mounts and its output going to io.
func createTask(ctx context.Context, c *client.Client, id string, mounts []mount.Mount, io cio.IO) (*directTask, error) {
	cfg := io.Config()
	req := &tasks.CreateTaskRequest{
		ContainerID: id,
		Terminal:    cfg.Terminal,
		Stdin:       cfg.Stdin,
		Stdout:      cfg.Stdout,
		Stderr:      cfg.Stderr,
	}
	for _, m := range mounts {
		req.Rootfs = append(req.Rootfs, &types.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	if _, err := c.TaskService().Create(ctx, req); err != nil {
		return nil, errgrpc.ToNative(err)
	}
	return &directTask{c: c, id: id, io: io}, nil
}

func (t *directTask) ID() string { return t.id }

func (t *directTask) IO() cio.IO { return t.io }

func (t *directTask) Start(ctx context.Context) error {
	if _, err := t.c.TaskService().Start(ctx, &tasks.StartRequest{ContainerID: t.id}); err != nil {
		if t.io != nil { // as client.Task does
			t.io.Cancel()
			t.io.Close()
		}
		return errgrpc.ToNative(err)
	}
	return nil
}

// Wait returns a channel that receives the task's exit status (or an
// error with client.UnknownExitStatus).
func (t *directTask) Wait(ctx context.Context) (<-chan client.ExitStatus, error) {
	ch := make(chan client.ExitStatus, 1)
	go func() {
		defer close(ch)
		r, err := t.c.TaskService().Wait(ctx, &tasks.WaitRequest{ContainerID: t.id})
		if err != nil {
			ch <- *client.NewExitStatus(client.UnknownExitStatus, time.Time{}, errgrpc.ToNative(err))
			return
		}
		ch <- *client.NewExitStatus(r.ExitStatus, r.ExitedAt.AsTime(), nil)
	}()
	return ch, nil
}

func (t *directTask) Kill(ctx context.Context, sig syscall.Signal, opts ...client.KillOpts) error {
	var info client.KillInfo
	for _, o := range opts {
		if err := o(ctx, &info); err != nil {
			return err
		}
	}
	_, err := t.c.TaskService().Kill(ctx, &tasks.KillRequest{ContainerID: t.id, Signal: uint32(sig), All: info.All})
	return errgrpc.ToNative(err)
}

func (t *directTask) Status(ctx context.Context) (client.Status, error) {
	r, err := t.c.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: t.id})
	if err != nil {
		return client.Status{}, errgrpc.ToNative(err)
	}
	return client.Status{
		Status:     client.ProcessStatus(strings.ToLower(r.Process.Status.String())),
		ExitStatus: r.Process.ExitStatus,
		ExitTime:   r.Process.ExitedAt.AsTime(),
	}, nil
}

// Delete deletes the stopped task once its output is copied, and closes
// its IO.
func (t *directTask) Delete(ctx context.Context, opts ...client.ProcessDeleteOpts) (*client.ExitStatus, error) {
	if len(opts) > 0 {
		return nil, fmt.Errorf("delete task %s: options are not supported: %w", t.id, errdefs.ErrNotImplemented)
	}
	if t.io != nil {
		t.io.Cancel()
		t.io.Wait()
	}
	r, err := t.c.TaskService().Delete(ctx, &tasks.DeleteTaskRequest{ContainerID: t.id})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	if t.io != nil {
		t.io.Close()
	}
	return client.NewExitStatus(r.ExitStatus, r.ExitedAt.AsTime(), nil), nil
}
