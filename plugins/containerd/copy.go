package containerd

import (
	"context"
	"maps"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ImageCopier = (*Driver)(nil)

// CopyImage makes an image of src's layers and config under opts.Ref, with
// opts.Labels over src's labels (CapCopy): a new config and manifest in the
// content store, over the same layers and the same unpacked snapshot, and
// an image record naming them. It never moves a reference.
func (d *Driver) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	name, err := normalizeRef(opts.Ref)
	if err != nil {
		return runtime.Image{}, err
	}
	imgs, _, err := d.resolveImage(ctx, src)
	if err != nil {
		return runtime.Image{}, err
	}
	ic, err := d.readImage(ctx, imgs[0].Target)
	if err != nil {
		return runtime.Image{}, err
	}
	is := d.c.ImageService()
	if _, err := is.Get(ctx, name); err == nil {
		return runtime.Image{}, d.wrap(ctx, errdefs.ErrAlreadyExists, "copy %s: image %s", src, opts.Ref)
	} else if !errdefs.IsNotFound(err) {
		return runtime.Image{}, d.wrap(ctx, err, "copy %s: image %s", src, opts.Ref)
	}

	ls := d.c.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(commitLease))
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "copy %s: lease", src)
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = ls.Delete(cctx, lease)
	}()
	ctx = leases.WithLease(ctx, lease.ID)

	cfg := ic.config
	cfg.Config.Labels = maps.Clone(cfg.Config.Labels)
	if cfg.Config.Labels == nil && len(opts.Labels) > 0 {
		cfg.Config.Labels = map[string]string{}
	}
	maps.Copy(cfg.Config.Labels, opts.Labels)
	layers := append([]ocispec.Descriptor{}, ic.manifest.Layers...)
	target, err := d.writeImage(ctx, d.sn, dockerTypes(ic), cfg, layers)
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "copy %s: write image", src)
	}
	img := images.Image{Name: name, Target: target}
	if _, err := is.Create(ctx, img); err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "copy %s: image %s", src, opts.Ref)
	}
	// The layers are unpacked already (the source's snapshot): this only
	// records it for the new image.
	if err := client.NewImage(d.c, img).Unpack(ctx, d.sn); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = is.Delete(cctx, name)
		return runtime.Image{}, d.wrap(ctx, err, "copy %s: unpack %s", src, opts.Ref)
	}
	return d.InspectImage(ctx, opts.Ref)
}
