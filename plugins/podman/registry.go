package podman

import (
	"context"
	"errors"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/image/v5/docker"
	"github.com/containers/image/v5/docker/reference"
	imagetypes "github.com/containers/image/v5/types"
	"github.com/containers/podman/v5/pkg/bindings/images"
)

var _ runtime.RegistryClient = (*Driver)(nil)

// PushImage pushes the local image ref to dest (CapRegistry) through the
// service, by the image's ID, so that no name is added to the image. The
// service pushes the image in the format it is stored in (an OCI manifest
// for Podman's commits, a Docker schema 2 one for a loaded docker-save
// tar). A Podman 5 service reports the digest of the manifest it wrote;
// Podman 4 does not, so the driver then asks the registry for the digest
// of dest's tag (a HEAD of the manifest, with the same TLS choice and
// credentials), from the driver's host. TLS verification is turned off for
// a loopback registry and with opts.Insecure (which also lets the service
// fall back to plain HTTP); otherwise the service's registries.conf
// decides.
func (d *Driver) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (string, error) {
	named, dref, err := pushDest(dest)
	if err != nil {
		return "", err
	}
	img, err := d.InspectImage(ctx, ref)
	if err != nil {
		return "", err
	}
	c, err := d.client(ctx)
	if err != nil {
		return "", err
	}
	reg := reference.Domain(named)
	po := new(images.PushOptions).WithQuiet(true)
	if skipTLSVerify(dest, opts) {
		po.WithSkipTLSVerify(true)
	}
	if opts.Username != "" || opts.Password != "" {
		po.WithUsername(opts.Username).WithPassword(opts.Password)
	}
	op := "push " + ref + " to " + dest
	if err := images.Push(c, img.ID, named.String(), po); err != nil {
		return "", d.registryWrap(ctx, op, reg, err)
	}
	if dg := po.GetManifestDigest(); dg != "" {
		return dg, nil
	}
	dg, err := docker.GetDigest(ctx, systemContext(dest, opts), dref)
	if err != nil {
		return "", registryDirectWrap(ctx, op+": the pushed manifest's digest", reg, err)
	}
	return dg.String(), nil
}

// PullDigest pulls src, a reference by digest, through the service
// (CapRegistry) and returns the image, which src names from then on
// (Podman adds src to the image's names, also when it already had the
// image under other names). An image src already names is returned
// without contacting the registry. TLS verification is chosen as in
// PushImage. If the pull fails or ctx ends and src names an image
// afterwards, the driver removes that name again (a service that finishes
// a cancelled pull after that can still leave it).
func (d *Driver) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	named, err := reference.ParseNormalizedNamed(src)
	if err != nil {
		return runtime.Image{}, invalid("pull by digest", "reference %q: %v", src, err)
	}
	if _, ok := named.(reference.Digested); !ok {
		return runtime.Image{}, invalid("pull by digest", "reference %q has no digest", src)
	}
	switch img, err := d.InspectImage(ctx, src); {
	case err == nil:
		return img, nil
	case !errors.Is(err, runtime.ErrNotFound):
		return runtime.Image{}, err
	}
	c, err := d.client(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	po := new(images.PullOptions).WithQuiet(true)
	if skipTLSVerify(src, opts) {
		po.WithSkipTLSVerify(true)
	}
	if opts.Username != "" || opts.Password != "" {
		po.WithUsername(opts.Username).WithPassword(opts.Password)
	}
	ids, err := images.Pull(c, src, po)
	if err == nil && len(ids) == 0 {
		err = errors.New("the service reported no image")
	}
	if err != nil {
		err = d.registryWrap(ctx, "pull "+src, reference.Domain(named), err)
		d.forget(ctx, src)
		return runtime.Image{}, err
	}
	return d.InspectImage(ctx, src)
}

// forget removes the name src after a failed pull, if the service gave it
// to an image anyway.
func (d *Driver) forget(ctx context.Context, src string) {
	bg, cancel := background(ctx)
	defer cancel()
	if _, err := d.InspectImage(bg, src); err == nil {
		_ = d.RemoveImage(bg, src)
	}
}

// pushDest checks a push destination, a reference with a tag and no
// digest, and returns it also as a reference of containers/image's docker
// transport, for the driver's own request to the registry.
func pushDest(dest string) (reference.Named, imagetypes.ImageReference, error) {
	named, err := reference.ParseNormalizedNamed(dest)
	if err != nil {
		return nil, nil, invalid("push", "destination %q: %v", dest, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, nil, invalid("push", "destination %q has a digest", dest)
	}
	if _, ok := named.(reference.Tagged); !ok {
		return nil, nil, invalid("push", "destination %q has no tag", dest)
	}
	dref, err := docker.NewReference(named)
	if err != nil {
		return nil, nil, invalid("push", "destination %q: %v", dest, err)
	}
	return named, dref, nil
}

// skipTLSVerify reports whether the registry of ref is reached without
// verifying its certificate (and over plain HTTP if it speaks no TLS).
func skipTLSVerify(ref string, opts runtime.RegistryOptions) bool {
	return opts.Insecure || runtime.IsLoopbackRegistry(ref)
}

// systemContext is containers/image's configuration for the driver's own
// requests to the registry of ref.
func systemContext(ref string, opts runtime.RegistryOptions) *imagetypes.SystemContext {
	sys := &imagetypes.SystemContext{}
	if skipTLSVerify(ref, opts) {
		sys.DockerInsecureSkipTLSVerify = imagetypes.OptionalBoolTrue
	}
	if opts.Username != "" || opts.Password != "" {
		sys.DockerAuthConfig = &imagetypes.DockerAuthConfig{Username: opts.Username, Password: opts.Password}
	}
	return sys
}
