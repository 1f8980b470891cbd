package containerd

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"

	"github.com/berth-dev/berth/runtime"
)

// cleanupTimeout bounds the clean-up done after a failure or cancellation.
const cleanupTimeout = time.Minute

// Run creates the container (a new snapshot on the unpacked image and an
// OCI spec from the image config and spec) and starts its task.
func (d *Driver) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	if err := validateSpec(spec); err != nil {
		return runtime.Container{}, err
	}
	id := spec.Name
	if id == "" {
		id = randomHex(32)
	}
	if _, err := d.c.ContainerService().Get(ctx, id); err == nil {
		return runtime.Container{}, fmt.Errorf("container %s: %w", id, runtime.ErrAlreadyExists)
	} else if !errdefs.IsNotFound(err) {
		return runtime.Container{}, d.wrap(ctx, err, "container %s", id)
	}
	imgs, _, err := d.resolveImage(ctx, spec.Image)
	if err != nil {
		return runtime.Container{}, err
	}
	img := client.NewImage(d.c, imgs[0])
	ic, err := d.readImage(ctx, img.Target())
	if err != nil {
		return runtime.Container{}, err
	}
	if ok, err := img.IsUnpacked(ctx, d.sn); err != nil || !ok {
		if err := img.Unpack(ctx, d.sn); err != nil {
			return runtime.Container{}, d.wrap(ctx, err, "unpack %s", spec.Image)
		}
	}

	snapKey := id + "-" + randomHex(4)
	cont, err := d.c.NewContainer(ctx, id,
		client.WithSnapshotter(d.sn),
		client.WithNewSnapshot(snapKey, img),
		client.WithContainerLabels(d.containerLabels(spec, img.Target().Digest.String())),
		client.WithNewSpec(d.specOpts(spec, id, ic.config.Config)...),
	)
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = d.c.SnapshotService(d.sn).Remove(cctx, snapKey)
		return runtime.Container{}, d.wrap(ctx, err, "create container %s", id)
	}
	info, err := cont.Info(ctx)
	if err == nil {
		var p *proc
		if p, err = d.newTask(ctx, cont); err == nil {
			err = d.wrap(ctx, p.task.Start(ctx), "start container %s", id)
		}
	}
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = d.remove(cctx, cont)
		return runtime.Container{}, d.wrap(ctx, err, "run %s", id)
	}
	return toContainer(info, runtime.StateRunning), nil
}

// cleanupContext returns a context for clean-up that survives ctx's
// cancellation.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// load returns the container id; ErrNotFound if there is none.
func (d *Driver) load(ctx context.Context, id string) (client.Container, error) {
	if id == "" {
		return nil, invalid("empty container ID")
	}
	cont, err := d.c.LoadContainer(ctx, id)
	if err != nil {
		return nil, d.wrap(ctx, err, "container %s", id)
	}
	return cont, nil
}

// Wait blocks until the container has exited and returns its status.
func (d *Driver) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	cont, err := d.load(ctx, id)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	p, err := d.attach(ctx, cont)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	if p != nil {
		select {
		case <-p.done:
			return p.status, nil
		case <-ctx.Done():
			return runtime.ExitStatus{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
		case <-d.ctx.Done():
			return runtime.ExitStatus{}, fmt.Errorf("wait %s: driver closed: %w", id, runtime.ErrUnavailable)
		}
	}
	task, err := cont.Task(ctx, nil)
	if err != nil {
		if !errdefs.IsNotFound(err) {
			return runtime.ExitStatus{}, d.wrap(ctx, err, "wait %s", id)
		}
		labels, err := cont.Labels(ctx)
		if err != nil {
			return runtime.ExitStatus{}, d.wrap(ctx, err, "wait %s", id)
		}
		if st, ok := retiredStatus(labels); ok {
			return st, nil
		}
		return runtime.ExitStatus{}, fmt.Errorf("wait %s: the container has no task: %w", id, runtime.ErrFailedPrecondition)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return runtime.ExitStatus{}, d.wrap(ctx, err, "wait %s", id)
	}
	select {
	case st := <-ch:
		code, _, err := st.Result()
		if ctx.Err() != nil {
			return runtime.ExitStatus{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
		}
		out := runtime.ExitStatus{ExitCode: int(code), OOMKilled: d.oomKilled(id)}
		if err != nil {
			out.Error = err.Error()
		}
		return out, nil
	case <-ctx.Done():
		return runtime.ExitStatus{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
	}
}

// Remove kills the container's task if it runs, deletes it, the container
// and its snapshot, and the driver's files for it.
func (d *Driver) Remove(ctx context.Context, id string) error {
	cont, err := d.load(ctx, id)
	if err != nil {
		return err
	}
	return d.remove(ctx, cont)
}

func (d *Driver) remove(ctx context.Context, cont client.Container) error {
	id := cont.ID()
	d.mu.Lock()
	p := d.procs[id]
	d.mu.Unlock()
	var task client.Task
	if p != nil {
		task = p.task
	} else {
		t, err := cont.Task(ctx, nil)
		if err != nil && !errdefs.IsNotFound(err) {
			return d.wrap(ctx, err, "remove %s", id)
		}
		task = t
	}
	if task != nil {
		if err := d.killTask(ctx, task, p); err != nil {
			return err
		}
		if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return d.wrap(ctx, err, "remove %s: delete task", id)
		}
	}
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("remove %s: %w", id, ctx.Err())
		}
	}
	d.forget(id)
	info, err := cont.Info(ctx)
	if err != nil {
		return d.wrap(ctx, err, "remove %s", id)
	}
	if err := cont.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: removed concurrently: %w", id, runtime.ErrNotFound)
		}
		return d.wrap(ctx, err, "remove %s", id)
	}
	if info.Labels[labelCommitBase] != "" {
		// The snapshots under the container's belong to an image that
		// may be gone already: collect them now rather than some day.
		if err := d.collectGarbage(ctx); err != nil {
			return d.wrap(ctx, err, "remove %s: collect garbage", id)
		}
	}
	if err := os.RemoveAll(d.containerDir(id)); err != nil {
		return fmt.Errorf("remove %s: state: %w", id, err)
	}
	return nil
}

// killTask kills the task with SIGKILL unless it has stopped, and waits for
// its exit.
func (d *Driver) killTask(ctx context.Context, task client.Task, p *proc) error {
	st, err := task.Status(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return d.wrap(ctx, err, "task %s", task.ID())
	}
	if st.Status == client.Stopped {
		return nil
	}
	exited, err := d.exited(ctx, task, p)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, sigkill, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return d.wrap(ctx, err, "kill %s", task.ID())
	}
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("kill %s: %w", task.ID(), ctx.Err())
	}
}

// exited returns a channel closed when the task has exited.
func (d *Driver) exited(ctx context.Context, task client.Task, p *proc) (<-chan struct{}, error) {
	if p != nil {
		return p.done, nil
	}
	ch, err := task.Wait(d.ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "wait %s", task.ID())
	}
	done := make(chan struct{})
	go func() {
		<-ch
		close(done)
	}()
	return done, nil
}

// InspectContainer returns the container with its state.
func (d *Driver) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	if id == "" {
		return runtime.Container{}, invalid("empty container ID")
	}
	info, err := d.c.ContainerService().Get(ctx, id)
	if err != nil {
		return runtime.Container{}, d.wrap(ctx, err, "container %s", id)
	}
	resp, err := d.c.TaskService().Get(ctx, &tasks.GetRequest{ContainerID: id})
	state := runtime.StateCreated
	if err == nil {
		state = toState(resp.Process.Status)
	} else if err = errgrpc.ToNative(err); !errdefs.IsNotFound(err) {
		return runtime.Container{}, d.wrap(ctx, err, "container %s", id)
	}
	return toContainer(info, state), nil
}

// ListContainers returns the containers whose labels match filter.
func (d *Driver) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	all, err := d.c.ContainerService().List(ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "list containers")
	}
	resp, err := d.c.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, d.wrap(ctx, errgrpc.ToNative(err), "list tasks")
	}
	states := map[string]runtime.ContainerState{}
	for _, t := range resp.Tasks {
		states[t.ID] = toState(t.Status)
	}
	var out []runtime.Container
	for _, info := range all {
		c := toContainer(info, runtime.StateCreated)
		if !filter.Match(c.Labels) {
			continue
		}
		if s, ok := states[info.ID]; ok {
			c.State = s
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// toContainer converts a containerd container record.
func toContainer(info containers.Container, state runtime.ContainerState) runtime.Container {
	c := runtime.Container{
		ID:      info.ID,
		Name:    info.Labels[labelName],
		Image:   info.Labels[labelImage],
		Labels:  userLabels(info.Labels),
		State:   state,
		Created: info.CreatedAt,
	}
	if c.Name == "" {
		c.Name = info.ID
	}
	if _, retired := retiredStatus(info.Labels); retired && state == runtime.StateCreated {
		c.State = runtime.StateExited // its task was deleted by a commit
	}
	if c.Image == "" {
		c.Image = familiar(info.Image)
	}
	return c
}

// toState maps a task status.
func toState(s tasktypes.Status) runtime.ContainerState {
	switch s {
	case tasktypes.Status_CREATED:
		return runtime.StateCreated
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return runtime.StateRunning
	case tasktypes.Status_STOPPED:
		return runtime.StateExited
	}
	return runtime.StateUnknown
}
