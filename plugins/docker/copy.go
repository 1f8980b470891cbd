package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ImageCopier = (*Driver)(nil)

// CopyImage makes an image of src's layers and config under opts.Ref, with
// opts.Labels over src's labels (CapCopy). No container is made: the
// config is written again and loaded as scrub does, which costs a few
// kilobytes whatever the image's size.
func (d *Driver) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	if strings.TrimSpace(opts.Ref) == "" {
		return runtime.Image{}, fmt.Errorf("docker: copy image %s: %w: a reference is required", src, runtime.ErrInvalidArgument)
	}
	if err := checkRef(opts.Ref); err != nil {
		return runtime.Image{}, fmt.Errorf("docker: copy image %s: %w", src, err)
	}
	from, err := d.InspectImage(ctx, src)
	if err != nil {
		return runtime.Image{}, err
	}
	switch _, err := d.InspectImage(ctx, opts.Ref); {
	case err == nil:
		return runtime.Image{}, fmt.Errorf("docker: copy image %s: reference %q is taken: %w", src, opts.Ref, runtime.ErrAlreadyExists)
	case !errors.Is(err, runtime.ErrNotFound):
		return runtime.Image{}, err
	}
	id, err := d.rewrite(ctx, "copy", from.ID, opts.Ref, func(cfg *dockerspec.DockerOCIImageConfig) {
		if cfg.Labels == nil && len(opts.Labels) > 0 {
			cfg.Labels = map[string]string{}
		}
		maps.Copy(cfg.Labels, opts.Labels)
	})
	if err != nil {
		return runtime.Image{}, err
	}
	return d.InspectImage(ctx, id)
}
