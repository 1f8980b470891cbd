package containerd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"

	"github.com/berth-dev/berth/runtime"
)

// InspectImage returns the image ref names (a reference or an image ID).
func (d *Driver) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	imgs, byID, err := d.resolveImage(ctx, ref)
	if err != nil {
		return runtime.Image{}, err
	}
	if !byID {
		// Report every name of the image, not only the one asked for.
		all, err := d.c.ImageService().List(ctx, "target.digest=="+imgs[0].Target.Digest.String())
		if err != nil {
			return runtime.Image{}, d.wrap(ctx, err, "image %s", ref)
		}
		imgs = all
	}
	return d.describe(ctx, imgs)
}

// PullImage pulls ref (plain HTTP for registries on localhost) and unpacks
// it into the snapshotter.
func (d *Driver) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	name, err := normalizeRef(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	img, err := d.c.Pull(ctx, name, client.WithPullUnpack, client.WithPullSnapshotter(d.sn), client.WithResolver(resolver))
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, err, "pull %s", ref)
	}
	return d.InspectImage(ctx, img.Name())
}

// LoadImage imports a docker-save or OCI layout tar and unpacks every image
// in it. On failure it removes the references it created and restores those
// it moved.
func (d *Driver) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	is := d.c.ImageService()
	before, err := is.List(ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "load")
	}
	old := map[string]images.Image{}
	for _, img := range before {
		old[img.Name] = img
	}
	imgs, err := d.c.Import(ctx, r)
	if err != nil && ctx.Err() == nil && classOf(err) == nil {
		err = invalid("not a docker-save or OCI image archive: %v", err)
	}
	if err == nil && len(imgs) == 0 {
		err = invalid("the stream holds no named image")
	}
	if err == nil {
		for _, img := range imgs {
			if err = client.NewImage(d.c, img).Unpack(ctx, d.sn); err != nil {
				err = fmt.Errorf("unpack %s: %w", familiar(img.Name), err)
				break
			}
		}
	}
	if err != nil {
		d.undoLoad(ctx, old)
		return nil, d.wrap(ctx, err, "load")
	}
	groups := map[string][]images.Image{}
	var order []string
	for _, img := range imgs {
		t := img.Target.Digest.String()
		if _, ok := groups[t]; !ok {
			order = append(order, t)
		}
		groups[t] = append(groups[t], img)
	}
	out := make([]runtime.Image, 0, len(order))
	for _, t := range order {
		ri, err := d.describe(ctx, groups[t])
		if err != nil {
			return nil, err
		}
		out = append(out, ri)
	}
	return out, nil
}

// undoLoad puts the image records back as they were in old: it deletes new
// names and moves changed ones back.
func (d *Driver) undoLoad(ctx context.Context, old map[string]images.Image) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	is := d.c.ImageService()
	now, err := is.List(ctx)
	if err != nil {
		return
	}
	for _, img := range now {
		prev, ok := old[img.Name]
		switch {
		case !ok:
			_ = is.Delete(ctx, img.Name)
		case prev.Target.Digest != img.Target.Digest:
			_, _ = is.Update(ctx, prev, "target")
		}
	}
}

// RemoveImage removes the reference ref, or every reference of the image
// when ref is an image ID. Deleting an image's last reference is refused
// with ErrConflict while a container uses it; the content and snapshots are
// then collected before RemoveImage returns.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	imgs, byID, err := d.resolveImage(ctx, ref)
	if err != nil {
		return err
	}
	target := imgs[0].Target.Digest.String()
	is := d.c.ImageService()
	all, err := is.List(ctx, "target.digest=="+target)
	if err != nil {
		return d.wrap(ctx, err, "remove image %s", ref)
	}
	last := byID || len(all) <= 1
	if last {
		users, err := d.imageUsers(ctx, target, all)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fmt.Errorf("remove image %s: used by container %s: %w", ref, users[0], runtime.ErrConflict)
		}
	}
	for i, img := range imgs {
		var opts []images.DeleteOpt
		if last && i == len(imgs)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := is.Delete(ctx, img.Name, opts...); err != nil {
			return d.wrap(ctx, err, "remove image %s", ref)
		}
	}
	return nil
}

// imageUsers returns the IDs of the containers made from the image with
// manifest digest target (known by its records imgs).
func (d *Driver) imageUsers(ctx context.Context, target string, imgs []images.Image) ([]string, error) {
	names := map[string]bool{}
	for _, img := range imgs {
		names[img.Name] = true
	}
	cs, err := d.c.ContainerService().List(ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "list containers")
	}
	var users []string
	for _, c := range cs {
		if c.Labels[labelImageID] == target || (c.Labels[labelImageID] == "" && names[c.Image]) {
			users = append(users, c.ID)
		}
	}
	sort.Strings(users)
	return users, nil
}

// ListImages returns the images whose config labels match filter, one per
// image ID, with all its references.
func (d *Driver) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	all, err := d.c.ImageService().List(ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "list images")
	}
	groups := map[string][]images.Image{}
	for _, img := range all {
		t := img.Target.Digest.String()
		groups[t] = append(groups[t], img)
	}
	var out []runtime.Image
	for _, g := range groups {
		ri, err := d.describe(ctx, g)
		if err != nil {
			if runtime.ClassOf(err) == runtime.ErrNotFound {
				continue // content being collected
			}
			return nil, err
		}
		if filter.Match(ri.Labels) {
			out = append(out, ri)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// imageContent is an image's manifest and config as stored.
type imageContent struct {
	manifestDesc ocispec.Descriptor
	manifest     ocispec.Manifest
	configDesc   ocispec.Descriptor
	config       ocispec.Image
}

// readImage reads the manifest (for the default platform) and config of
// the image whose record targets target. Content is immutable: what was
// read for a digest is kept (as bytes, decoded afresh for each caller) and
// not read again.
func (d *Driver) readImage(ctx context.Context, target ocispec.Descriptor) (imageContent, error) {
	d.imgMu.Lock()
	raw, ok := d.imgCache[target.Digest]
	d.imgMu.Unlock()
	if !ok {
		var err error
		if raw, err = d.readImageBlobs(ctx, target); err != nil {
			return imageContent{}, err
		}
		d.imgMu.Lock()
		if len(d.imgCache) >= imageCacheSize {
			clear(d.imgCache)
		}
		d.imgCache[target.Digest] = raw
		d.imgMu.Unlock()
	}
	ic := imageContent{manifestDesc: raw.manifestDesc}
	if err := json.Unmarshal(raw.manifest, &ic.manifest); err != nil {
		return ic, fmt.Errorf("image %s: manifest: %w", target.Digest, err)
	}
	ic.configDesc = ic.manifest.Config
	if err := json.Unmarshal(raw.config, &ic.config); err != nil {
		return ic, fmt.Errorf("image %s: config: %w", target.Digest, err)
	}
	return ic, nil
}

// imageCacheSize bounds the images whose manifest and config readImage
// keeps.
const imageCacheSize = 256

// imageBlobs is an image's manifest and config as stored.
type imageBlobs struct {
	manifestDesc     ocispec.Descriptor
	manifest, config []byte
}

// readImageBlobs reads the manifest (for the default platform) and config
// of the image whose record targets target.
func (d *Driver) readImageBlobs(ctx context.Context, target ocispec.Descriptor) (imageBlobs, error) {
	cs := d.c.ContentStore()
	raw := imageBlobs{manifestDesc: target}
	var err error
	if images.IsIndexType(target.MediaType) {
		raw.manifestDesc, err = manifestFor(ctx, cs, target)
		if err != nil {
			return raw, d.wrap(ctx, err, "image %s", target.Digest)
		}
	}
	if raw.manifest, err = d.readBlob(ctx, raw.manifestDesc); err != nil {
		return raw, d.wrap(ctx, err, "image %s: manifest", target.Digest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw.manifest, &m); err != nil {
		return raw, fmt.Errorf("image %s: manifest: %w", target.Digest, err)
	}
	if raw.config, err = d.readBlob(ctx, m.Config); err != nil {
		return raw, d.wrap(ctx, err, "image %s: config", target.Digest)
	}
	return raw, nil
}

// readBlob reads the blob desc describes in one round trip (content.ReadBlob
// asks for its size first) and checks its digest.
func (d *Driver) readBlob(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	conn, ok := d.c.Conn().(grpc.ClientConnInterface)
	if !ok {
		return content.ReadBlob(ctx, d.c.ContentStore(), desc)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if it is left early
	rc, err := contentapi.NewContentClient(conn).Read(ctx, &contentapi.ReadContentRequest{Digest: desc.Digest.String()})
	if err != nil {
		return nil, errgrpc.ToNative(err)
	}
	b := make([]byte, 0, max(desc.Size, 0))
	for {
		resp, err := rc.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errgrpc.ToNative(err)
		}
		b = append(b, resp.Data...)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: read %d bytes with digest %s", desc.Digest, len(b), got)
	}
	return b, nil
}

// manifestFor returns the descriptor of the manifest for the default
// platform in the index idx.
func manifestFor(ctx context.Context, cs content.Provider, idx ocispec.Descriptor) (ocispec.Descriptor, error) {
	var found *ocispec.Descriptor
	match := platforms.Default()
	handler := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		if images.IsManifestType(desc.MediaType) {
			if found == nil && (desc.Platform == nil || match.Match(*desc.Platform)) {
				found = &desc
			}
			return nil, nil
		}
		return images.Children(ctx, cs, desc)
	})
	if err := images.Walk(ctx, handler, idx); err != nil {
		return ocispec.Descriptor{}, err
	}
	if found == nil {
		return ocispec.Descriptor{}, fmt.Errorf("no manifest for %s: %w", platforms.DefaultString(), runtime.ErrNotFound)
	}
	return *found, nil
}

// describe returns the runtime view of the image whose records (sharing one
// target) are imgs.
func (d *Driver) describe(ctx context.Context, imgs []images.Image) (runtime.Image, error) {
	target := imgs[0].Target
	ic, err := d.readImage(ctx, target)
	if err != nil {
		return runtime.Image{}, err
	}
	ri := runtime.Image{
		ID:     target.Digest.String(),
		Layers: len(ic.manifest.Layers),
		Labels: ic.config.Config.Labels,
		Env:    ic.config.Config.Env,
		Size:   target.Size + ic.configDesc.Size,
	}
	if ic.manifestDesc.Digest != target.Digest {
		ri.Size += ic.manifestDesc.Size
	}
	for _, l := range ic.manifest.Layers {
		ri.Size += l.Size
	}
	if ri.Labels == nil {
		ri.Labels = map[string]string{}
	}
	if ic.config.Created != nil {
		ri.Created = *ic.config.Created
	} else {
		ri.Created = imgs[0].CreatedAt
	}
	for _, img := range imgs {
		ri.Refs = append(ri.Refs, familiar(img.Name))
	}
	sort.Strings(ri.Refs)
	return ri, nil
}
