package podman

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Remove removes the container, killing it first if it runs.
func (d *Driver) Remove(ctx context.Context, id string) error {
	if id == "" {
		return invalid("remove", "empty container ID")
	}
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	opts := new(containers.RemoveOptions).WithForce(true).WithVolumes(true).WithTimeout(0)
	_, err = containers.Remove(c, id, opts)
	for try := 0; err != nil && try < 2 && !isStatus(err, http.StatusNotFound) && ctx.Err() == nil; try++ {
		// Podman 4.3 fails a forced removal that races the container's
		// own exit ("could not be stopped: container state improper");
		// inspect syncs the state, after which the removal goes through.
		if _, ierr := containers.Inspect(c, id, nil); ierr != nil {
			break
		}
		_, err = containers.Remove(c, id, opts)
	}
	if err != nil {
		return d.wrap(ctx, "remove "+id, err)
	}
	// The secrets a Run made for the container are stale now if its
	// driver died before deleting them: delete them (with any other stale
	// ones). A failure is left to the next sweep.
	_ = d.sweepSecrets(c)
	return nil
}

// removeQuietly removes a container Run made and cannot return, even after
// ctx was cancelled.
func (d *Driver) removeQuietly(ctx context.Context, id string) {
	bg, cancel := background(ctx)
	defer cancel()
	_ = d.Remove(bg, id)
}

// InspectContainer returns the container with its current state.
func (d *Driver) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	data, err := d.inspect(ctx, id)
	if err != nil {
		return runtime.Container{}, err
	}
	ctr := runtime.Container{
		ID:      data.ID,
		Name:    data.Name,
		Image:   data.ImageName,
		State:   runtime.StateUnknown,
		Created: data.Created,
	}
	if data.Config != nil {
		ctr.Labels = data.Config.Labels
		if img, ok := data.Config.Annotations[imageAnnotation]; ok {
			ctr.Image = img
		}
	}
	if data.State != nil {
		ctr.State = toState(data.State.Status)
	}
	return ctr, nil
}

func (d *Driver) inspect(ctx context.Context, id string) (*define.InspectContainerData, error) {
	if id == "" {
		return nil, invalid("inspect", "empty container ID")
	}
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	// Podman 4.3 answers 500 to an inspect that races the container's
	// exit (it reads /proc of a process just gone); inspect is idempotent,
	// so such an answer is retried a few times.
	data, err := containers.Inspect(c, id, nil)
	for try := 0; try < 3 && isStatus(err, http.StatusInternalServerError); try++ {
		select {
		case <-ctx.Done():
			return nil, d.wrap(ctx, "inspect "+id, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		data, err = containers.Inspect(c, id, nil)
	}
	if err != nil {
		return nil, d.wrap(ctx, "inspect "+id, err)
	}
	return data, nil
}

// toState maps Podman's container states onto the contract's.
func toState(status string) runtime.ContainerState {
	switch status {
	case "configured", "created", "initialized":
		return runtime.StateCreated
	case "running", "paused", "stopping":
		return runtime.StateRunning
	case "exited", "stopped":
		return runtime.StateExited
	}
	return runtime.StateUnknown
}

// ListContainers returns the containers, in any state, whose labels match
// filter.
func (d *Driver) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	// The host's reconcile lists its containers on every run and gc: the
	// sweep of stale secrets rides along, beside the listing. A failure is
	// left to the next one.
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		_ = d.sweepSecrets(c)
	}()
	defer func() { <-swept }()
	list, err := d.list(c, filter)
	if err != nil {
		return nil, d.wrap(ctx, "list containers", err)
	}
	// The listing lacks annotations (the image as given): inspect each.
	var out []runtime.Container
	for _, l := range list {
		ctr, err := d.InspectContainer(ctx, l.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ctr)
	}
	return out, nil
}

// listed is a container of a listing.
type listed struct{ ID string }

func (d *Driver) list(c context.Context, filter runtime.LabelFilter) ([]listed, error) {
	all := true
	list, err := containers.List(c, &containers.ListOptions{All: &all, Filters: labelFilters(filter)})
	if err != nil {
		return nil, err
	}
	var out []listed
	for _, l := range list {
		if filter.Match(l.Labels) {
			out = append(out, listed{ID: l.ID})
		}
	}
	return out, nil
}
