package podman

import (
	"context"
	"fmt"
	"strings"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/storage/pkg/archive"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ChangeChecker = (*Driver)(nil)

// Changed reports whether the exited container id changed its file system
// (CapDiff), from Podman's diff of the container's layer against its
// image's (GET /containers/{id}/changes), less what Podman makes in every
// container: the mount points of /etc/hosts, /etc/hostname,
// /etc/resolv.conf, /run/.containerenv, of the init (/run/podman-init) and
// of its mounts, the working directory, and the directories above them,
// added or changed for them (Podman lists /etc changed for its files).
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
	made := runtime.NewEngineMade("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
		"/run/.containerenv", "/run/podman-init", "/dev", "/proc", "/sys", "/run/secrets")
	if data.Config != nil {
		made.Add(data.Config.WorkingDir)
	}
	for _, m := range data.Mounts {
		made.Add(m.Destination)
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
		if !made.Ignores(ch.Path, ch.Kind == archive.ChangeDelete) {
			return true, nil
		}
	}
	return false, nil
}
