package containerd

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.RegistryClient = (*Driver)(nil)

// PushImage pushes the local image ref to dest (CapRegistry) with the
// client's Push: the manifest and the blobs it names, from the content
// store, as they are stored, so the digest returned is the local
// manifest's (the image's ID). An image whose record targets an index
// (one pulled from a multi-platform index) is pushed as the manifest for
// the platform it runs as, so that any engine pulls what this one runs;
// its digest is then not the image's ID. No image record is made for the
// push.
func (d *Driver) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (string, error) {
	named, err := pushDest(dest)
	if err != nil {
		return "", err
	}
	imgs, _, err := d.resolveImage(ctx, ref)
	if err != nil {
		return "", err
	}
	desc := imgs[0].Target
	if images.IsIndexType(desc.MediaType) {
		if desc, err = manifestFor(ctx, d.c.ContentStore(), desc); err != nil {
			return "", d.wrap(ctx, err, "push %s", ref)
		}
	}
	reg := reference.Domain(named)
	if err := d.c.Push(ctx, named.String(), desc, client.WithResolver(resolver(reg, opts))); err != nil {
		return "", d.registryWrap(ctx, err, reg, "push %s to %s", ref, dest)
	}
	return desc.Digest.String(), nil
}

// PullDigest pulls src, a reference by digest, with the client's Pull and
// unpacks it into the driver's snapshotter; the image record is named src
// (normalized: "docker.io/library/x@sha256:..." for "x@sha256:..."). An
// image the engine has already, under src or another name, is not
// fetched: src is then one more record of it. A failed or abandoned pull
// leaves no record src (its content goes with the pull's lease).
func (d *Driver) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	if src == "" {
		return runtime.Image{}, invalid("pull by digest: empty reference")
	}
	named, err := reference.ParseDockerRef(src)
	if err != nil {
		return runtime.Image{}, invalid("pull by digest: reference %q: %v", src, err)
	}
	canonical, ok := named.(reference.Canonical)
	if !ok {
		return runtime.Image{}, invalid("pull by digest: reference %q has no digest", src)
	}
	name := named.String()
	is := d.c.ImageService()
	if _, err := is.Get(ctx, name); err == nil {
		return d.InspectImage(ctx, name)
	} else if !errdefs.IsNotFound(err) {
		return runtime.Image{}, d.wrap(ctx, err, "pull %s", src)
	}
	if img, err := d.adopt(ctx, name, canonical.Digest().String()); err != nil || img != nil {
		if err != nil {
			return runtime.Image{}, err
		}
		return d.InspectImage(ctx, name)
	}
	reg := reference.Domain(named)
	_, err = d.c.Pull(ctx, name, client.WithPullUnpack, client.WithPullSnapshotter(d.sn),
		client.WithResolver(resolver(reg, opts)))
	if err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := is.Delete(cctx, name); err != nil && !errdefs.IsNotFound(err) {
			return runtime.Image{}, d.wrap(ctx, err, "pull %s: removing the failed pull's record", src)
		}
		return runtime.Image{}, d.registryWrap(ctx, err, reg, "pull %s", src)
	}
	return d.InspectImage(ctx, name)
}

// adopt gives the name name to the image whose manifest (or index) digest
// is dgst, if the engine has one, and makes sure it is unpacked; it
// returns nil if there is none.
func (d *Driver) adopt(ctx context.Context, name, dgst string) (*images.Image, error) {
	is := d.c.ImageService()
	have, err := is.List(ctx, "target.digest=="+dgst)
	if err != nil {
		return nil, d.wrap(ctx, err, "pull %s", name)
	}
	if len(have) == 0 {
		return nil, nil
	}
	img, err := is.Create(ctx, images.Image{Name: name, Target: have[0].Target})
	if errdefs.IsAlreadyExists(err) {
		return &img, nil // a pull of the same src meanwhile
	}
	if err != nil {
		return nil, d.wrap(ctx, err, "pull %s", name)
	}
	if err := client.NewImage(d.c, img).Unpack(ctx, d.sn); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = is.Delete(cctx, name)
		return nil, d.wrap(ctx, err, "pull %s: unpack", name)
	}
	return &img, nil
}

// pushDest checks a push destination, a reference with a tag and no
// digest, and returns it normalized.
func pushDest(dest string) (reference.Named, error) {
	if dest == "" {
		return nil, invalid("push: empty destination")
	}
	named, err := reference.ParseNormalizedNamed(dest)
	if err != nil {
		return nil, invalid("push: destination %q: %v", dest, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, invalid("push: destination %q has a digest", dest)
	}
	if _, ok := named.(reference.Tagged); !ok {
		return nil, invalid("push: destination %q has no tag", dest)
	}
	return named, nil
}

// resolver returns a resolver for the registry reg ("host[:port]", as in
// a reference). A loopback registry, or any with opts.Insecure, is tried
// over HTTPS without verifying its certificate and then, if it answers in
// plain HTTP, over HTTP (containerd's HTTP fallback, as for its defaulted
// localhost hosts); any other over verified HTTPS only. opts' credentials
// go to reg alone (basic auth, or the token service reg names).
func resolver(reg string, opts runtime.RegistryOptions) remotes.Resolver {
	insecure := opts.Insecure || runtime.IsLoopbackRegistry(reg)
	var tlsConfig *tls.Config
	if insecure {
		tlsConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for: Insecure, or a loopback registry
	}
	var rt http.RoundTripper = docker.DefaultHTTPTransport(tlsConfig)
	if insecure {
		rt = docker.NewHTTPFallback(rt)
	}
	hc := &http.Client{Transport: rt}
	aopts := []docker.AuthorizerOpt{docker.WithAuthClient(hc)}
	if opts.Username != "" || opts.Password != "" {
		aopts = append(aopts, docker.WithAuthCreds(func(host string) (string, string, error) {
			if host == reg || (reg == "docker.io" && host == "registry-1.docker.io") {
				return opts.Username, opts.Password, nil
			}
			return "", "", nil
		}))
	}
	return docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(
			docker.WithClient(hc),
			docker.WithAuthorizer(docker.NewDockerAuthorizer(aopts...)),
		),
	})
}
