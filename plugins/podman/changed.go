package podman

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ChangeChecker = (*Driver)(nil)

// Changed reports whether the exited container id changed its file system
// (CapDiff), from Podman's diff of the container's layer against its
// image's (GET /containers/{id}/changes). Podman leaves out the files it
// makes in every container (/etc/hosts, /etc/hostname, /etc/resolv.conf,
// /run/.containerenv, the mount points of /dev, /proc, /sys, /run); the
// working directory it made when the image lacked it does not count either.
func (d *Driver) Changed(ctx context.Context, id string) (bool, error) {
	if strings.TrimSpace(id) == "" {
		return false, invalid("changed", "empty container ID")
	}
	data, err := d.inspect(ctx, id)
	if err != nil {
		return false, err
	}
	if st := toState(data.State.Status); st == runtime.StateRunning {
		return false, fmt.Errorf("podman: changed %s: container is %s: %w", id, st, runtime.ErrFailedPrecondition)
	}
	workDir := ""
	if data.Config != nil && data.Config.WorkingDir != "" {
		workDir = path.Clean(data.Config.WorkingDir)
	}
	c, err := d.client(ctx)
	if err != nil {
		return false, err
	}
	kind := "container"
	changes, err := containers.Diff(c, data.ID, &containers.DiffOptions{DiffType: &kind})
	if err != nil {
		return false, d.wrap(ctx, "changed "+id, err)
	}
	for _, ch := range changes {
		if p := path.Clean(ch.Path); p == workDir || strings.HasPrefix(workDir, p+"/") {
			// The working directory, or a directory above it: what the
			// engine made for it (anything the job wrote in it is listed
			// under it).
			continue
		}
		return true, nil
	}
	return false, nil
}
