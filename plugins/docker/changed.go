package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ChangeChecker = (*Driver)(nil)

// Changed reports whether the exited container id changed its file system
// (CapDiff), from the engine's own diff of its writable layer (GET
// /containers/{id}/changes), less what Docker makes in every container:
// the mount points of the init (/sbin/docker-init), of its mounts and of
// /etc/hosts, /etc/hostname and /etc/resolv.conf, the working directory,
// and the directories above them, added or changed for them.
func (d *Driver) Changed(ctx context.Context, id string) (bool, error) {
	if strings.TrimSpace(id) == "" {
		return false, fmt.Errorf("docker: changed: %w: empty container ID", runtime.ErrInvalidArgument)
	}
	res, err := d.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, d.fail(err, "changed %s", id)
	}
	c := res.Container
	if c.State != nil && (c.State.Running || c.State.Paused || c.State.Restarting) {
		return false, fmt.Errorf("docker: changed %s: %w: the container is %s", id, runtime.ErrFailedPrecondition, c.State.Status)
	}
	made := runtime.NewEngineMade("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv")
	if c.Config != nil {
		made.Add(c.Config.WorkingDir)
	}
	if c.HostConfig != nil && c.HostConfig.Init != nil && *c.HostConfig.Init {
		made.Add("/sbin/docker-init")
	}
	for _, m := range c.Mounts {
		made.Add(m.Destination)
	}
	diff, err := d.cli.ContainerDiff(ctx, c.ID, client.ContainerDiffOptions{})
	if err != nil {
		return false, d.fail(err, "changed %s", id)
	}
	for _, ch := range diff.Changes {
		if !made.Ignores(ch.Path, ch.Kind == container.ChangeDelete) {
			return true, nil
		}
	}
	return false, nil
}
