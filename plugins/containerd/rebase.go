package containerd

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/runtime"
)

// rebase gives a committed image its top snapshot without unpacking the
// new layer: the container's own snapshot, which holds exactly the files of
// that layer on exactly the image's parent snapshot, is committed under the
// image's chain ID, and the container gets a fresh empty snapshot on top of
// it (so it sees the same files and can be committed again). This saves
// extracting the layer, which costs as much as making it.
//
// The task must go first (it keeps the snapshot mounted): its exit status
// is kept in a container label for Wait. rebase returns false, touching
// nothing, when the snapshot cannot serve (another parent, or the chain
// already exists); the caller then unpacks.
func (d *Driver) rebase(ctx context.Context, info containers.Container, target ocispec.Descriptor, diffIDs []digest.Digest) (bool, error) {
	sn := d.c.SnapshotService(info.Snapshotter)
	chain := identity.ChainID(diffIDs).String()
	parent := identity.ChainID(diffIDs[:len(diffIDs)-1]).String()
	st, err := sn.Stat(ctx, info.SnapshotKey)
	if err != nil {
		return false, err
	}
	if st.Kind != snapshots.KindActive || st.Parent != parent {
		return false, nil
	}
	if _, err := sn.Stat(ctx, chain); err == nil {
		return false, nil
	} else if !errdefs.IsNotFound(err) {
		return false, err
	}
	if err := d.retireTask(ctx, info.ID); err != nil {
		return false, err
	}
	if err := sn.Commit(ctx, chain, info.SnapshotKey); err != nil {
		return false, err
	}
	if _, err := sn.Prepare(ctx, info.SnapshotKey, chain); err != nil {
		return true, fmt.Errorf("new snapshot for the container: %w", err)
	}
	_, err = d.c.ContainerService().Update(ctx, containers.Container{
		ID: info.ID,
		Labels: map[string]string{
			labelCommitBase: target.Digest.String(),
			labelGCCommit:   target.Digest.String(),
		},
	}, "labels."+labelCommitBase, "labels."+labelGCCommit)
	return true, err
}

// retireTask deletes the container's exited task once its output is
// written, keeping its exit status in the labelExit label.
func (d *Driver) retireTask(ctx context.Context, id string) error {
	d.mu.Lock()
	p := d.procs[id]
	d.mu.Unlock()
	var (
		task   taskHandle
		status runtime.ExitStatus
	)
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		task, status = p.task, p.status
	} else {
		cont, err := d.load(ctx, id)
		if err != nil {
			return err
		}
		if task, err = cont.Task(ctx, nil); err != nil {
			if errdefs.IsNotFound(err) {
				return nil // retired before
			}
			return err
		}
		if status, err = d.Wait(ctx, id); err != nil {
			return err
		}
	}
	b, err := json.Marshal(status)
	if err != nil {
		return err
	}
	if _, err := d.c.ContainerService().Update(ctx, containers.Container{
		ID: id, Labels: map[string]string{labelExit: string(b)},
	}, "labels."+labelExit); err != nil {
		return err
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// retiredStatus returns the exit status kept by retireTask, ok false if
// there is none.
func retiredStatus(labels map[string]string) (st runtime.ExitStatus, ok bool) {
	v := labels[labelExit]
	if v == "" {
		return st, false
	}
	return st, json.Unmarshal([]byte(v), &st) == nil
}

// collectGarbage makes containerd collect garbage now (deleting a lease
// synchronously runs the collector), so the snapshots a rebased container
// held go with it.
func (d *Driver) collectGarbage(ctx context.Context) error {
	ls := d.c.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID())
	if err != nil {
		return err
	}
	return ls.Delete(ctx, l, leases.SynchronousDelete)
}
