package containerd

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/runtime"
)

// cleanupTimeout bounds the clean-up done after a failure or cancellation.
const cleanupTimeout = time.Minute

// Run creates the container and starts its task. It makes the container
// record first (which keeps its snapshot from the garbage collector, so no
// lease is needed), then the snapshot on the image's chain (unpacking the
// image only if that is missing), then the task on the snapshot's mounts.
func (d *Driver) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	if err := validateSpec(spec); err != nil {
		return runtime.Container{}, err
	}
	id := spec.Name
	if id == "" {
		id = randomHex(32)
	}
	// The runtime's name is asked (once per driver) while the image is.
	var (
		wg      sync.WaitGroup
		rtName  string
		rtError error
	)
	wg.Go(func() { rtName, rtError = d.runtimeName(ctx) })
	defer wg.Wait()
	imgs, _, err := d.resolveImage(ctx, spec.Image)
	if err != nil {
		return runtime.Container{}, err
	}
	rec := imgs[0]
	ic, err := d.readImage(ctx, rec.Target)
	if err != nil {
		return runtime.Container{}, err
	}
	if wg.Wait(); rtError != nil {
		return runtime.Container{}, d.wrap(ctx, rtError, "create container %s: runtime", id)
	}
	cfg := ic.config.Config
	labels, extensions := fitLabels(d.containerLabels(spec, rec.Target.Digest.String()))
	info := containers.Container{
		ID:          id,
		Labels:      labels,
		Extensions:  extensions,
		Image:       rec.Name,
		Runtime:     containers.RuntimeInfo{Name: rtName},
		Snapshotter: d.sn,
		SnapshotKey: id + "-" + randomHex(4),
	}
	// A user name is looked up in the image's /etc/passwd, which needs the
	// snapshot: the spec then gets the user once the snapshot exists.
	withUser := cfg.User
	cfg.User = ""
	if info.Spec, err = d.newSpec(ctx, spec, info, cfg); err != nil {
		return runtime.Container{}, d.wrap(ctx, err, "create container %s", id)
	}
	if info, err = d.c.ContainerService().Create(ctx, info); err != nil {
		if errdefs.IsAlreadyExists(err) {
			return runtime.Container{}, fmt.Errorf("container %s: %w", id, runtime.ErrAlreadyExists)
		}
		return runtime.Container{}, d.wrap(ctx, err, "create container %s", id)
	}
	err = d.start(ctx, spec, info, rec, ic, withUser)
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = d.remove(cctx, info)
		return runtime.Container{}, d.wrap(ctx, err, "run %s", id)
	}
	return toContainer(info, runtime.StateRunning), nil
}

// start makes the snapshot of the container info records and creates and
// starts its task; user, if not empty, is the image config's user, set in
// the spec once the snapshot exists.
func (d *Driver) start(ctx context.Context, spec runtime.ContainerSpec, info containers.Container, rec images.Image, ic imageContent, user string) error {
	id := info.ID
	sn := d.c.SnapshotService(d.sn)
	parent := identity.ChainID(ic.config.RootFS.DiffIDs).String()
	mounts, err := sn.Prepare(ctx, info.SnapshotKey, parent)
	if errdefs.IsNotFound(err) {
		if err := client.NewImage(d.c, rec).Unpack(ctx, d.sn); err != nil {
			return d.wrap(ctx, err, "unpack %s", spec.Image)
		}
		mounts, err = sn.Prepare(ctx, info.SnapshotKey, parent)
	}
	if err != nil {
		return d.wrap(ctx, err, "snapshot of %s", id)
	}
	if user != "" {
		cfg := ic.config.Config
		if info.Spec, err = d.newSpec(ctx, spec, info, cfg); err != nil {
			return d.wrap(ctx, err, "create container %s", id)
		}
		if _, err := d.c.ContainerService().Update(ctx, info, "spec"); err != nil {
			return d.wrap(ctx, err, "create container %s", id)
		}
	}
	p, err := d.newTask(ctx, id, mounts)
	if err != nil {
		return err
	}
	return d.wrap(ctx, p.task.Start(ctx), "start container %s", id)
}

// newSpec returns the OCI spec of the container info records, for spec on
// an image with config cfg.
func (d *Driver) newSpec(ctx context.Context, spec runtime.ContainerSpec, info containers.Container, cfg ocispec.ImageConfig) (typeurl.Any, error) {
	ctx = namespaces.WithNamespace(ctx, d.namespace)
	s, err := oci.GenerateSpec(ctx, d.c, &info, d.specOpts(spec, info.ID, cfg)...)
	if err != nil {
		return nil, err
	}
	return typeurl.MarshalAny(s)
}

// runtimeName returns the runtime of new containers: the namespace's
// default (its label containerd.io/defaults/runtime) or containerd's, as
// client.NewContainer does. It asks once per driver.
func (d *Driver) runtimeName(ctx context.Context) (string, error) {
	d.mu.Lock()
	name := d.runtime
	d.mu.Unlock()
	if name != "" {
		return name, nil
	}
	name, err := d.c.GetLabel(ctx, defaults.DefaultRuntimeNSLabel)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = defaults.DefaultRuntime
	}
	d.mu.Lock()
	d.runtime = name
	d.mu.Unlock()
	return name, nil
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
	// The task of a proc of this process exists until Remove forgets it:
	// its proc answers without a round trip.
	p := d.proc(id)
	var cont client.Container
	if p == nil {
		var err error
		if cont, err = d.load(ctx, id); err != nil {
			return runtime.ExitStatus{}, err
		}
		if p, err = d.attach(ctx, cont); err != nil {
			return runtime.ExitStatus{}, err
		}
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
	if id == "" {
		return invalid("empty container ID")
	}
	info, err := d.c.ContainerService().Get(ctx, id)
	if err != nil {
		return d.wrap(ctx, err, "container %s", id)
	}
	return d.remove(ctx, info)
}

func (d *Driver) remove(ctx context.Context, info containers.Container) error {
	id := info.ID
	d.mu.Lock()
	p := d.procs[id]
	d.mu.Unlock()
	// Without a proc of this process, the task (if any) is addressed by
	// the container's ID: a missing one answers ErrNotFound.
	var task taskHandle = &directTask{c: d.c, id: id}
	if p != nil {
		task = p.task
	}
	if err := d.killTask(ctx, task, p); err != nil {
		return err
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return d.wrap(ctx, err, "remove %s: delete task", id)
	}
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return fmt.Errorf("remove %s: %w", id, ctx.Err())
		}
	}
	d.forget(id)
	if info.SnapshotKey != "" && info.Snapshotter != "" {
		err := d.c.SnapshotService(info.Snapshotter).Remove(ctx, info.SnapshotKey)
		if err != nil && !errdefs.IsNotFound(err) {
			return d.wrap(ctx, err, "remove %s: snapshot", id)
		}
	}
	if err := d.c.ContainerService().Delete(ctx, id); err != nil {
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
func (d *Driver) killTask(ctx context.Context, task taskHandle, p *proc) error {
	if p != nil {
		select {
		case <-p.done:
			return nil // exited, output written
		default:
		}
	}
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
func (d *Driver) exited(ctx context.Context, task taskHandle, p *proc) (<-chan struct{}, error) {
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
		Labels:  userLabels(exactLabels(info)),
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
