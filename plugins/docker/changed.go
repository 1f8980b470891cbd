package docker

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ChangeChecker = (*Driver)(nil)

// Changed reports whether the exited container id changed its file system
// (CapDiff), from the engine's own diff of its writable layer (GET
// /containers/{id}/changes). Docker keeps the files it makes in every
// container (/etc/hosts, /etc/hostname, /etc/resolv.conf, the init's mount
// point) in a layer of their own that the diff leaves out; the working
// directory it made when the image lacked it does not count either.
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
	workDir := ""
	if c.Config != nil && c.Config.WorkingDir != "" {
		workDir = path.Clean(c.Config.WorkingDir)
	}
	diff, err := d.cli.ContainerDiff(ctx, c.ID, client.ContainerDiffOptions{})
	if err != nil {
		return false, d.fail(err, "changed %s", id)
	}
	for _, ch := range diff.Changes {
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
