package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.RegistryClient = (*Driver)(nil)

// PushImage tags the image ref as dest, has the engine push it, and takes
// the tag away again, however the push ends (CapRegistry). Plain HTTP and
// unverified certificates are the daemon's to allow (its
// "insecure-registries"; loopback registries are allowed by default), so
// opts.Insecure changes nothing here.
//
// Docker's removal of a tag also removes the image's digest references in
// the same repository when no other tag is left there, and deletes the
// image if nothing else names it: references the image had before the
// push that go that way are pulled back by digest (from the local layers:
// nothing is downloaded), and an image that had no reference at all keeps
// the pushed digest reference rather than be lost.
func (d *Driver) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (digest string, err error) {
	what := fmt.Sprintf("push %s to %s", ref, dest)
	named, err := parseDest(dest)
	if err != nil {
		return "", fmt.Errorf("docker: %s: %w", what, err)
	}
	if strings.TrimSpace(ref) == "" {
		return "", fmt.Errorf("docker: %s: %w: empty reference", what, runtime.ErrInvalidArgument)
	}
	src, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", d.fail(err, "%s", what)
	}
	host, target := reference.Domain(named), reference.FamiliarString(named)
	auth, err := registryAuth(opts, host)
	if err != nil {
		return "", fmt.Errorf("docker: %s: %w", what, err)
	}
	var prev string // the image target named before, if any
	switch p, err := d.cli.ImageInspect(ctx, target); {
	case err == nil:
		prev = p.ID
	case !cerrdefs.IsNotFound(err):
		return "", d.fail(err, "%s", what)
	}
	if prev != src.ID {
		if _, err := d.cli.ImageTag(ctx, client.ImageTagOptions{Source: src.ID, Target: target}); err != nil {
			return "", d.fail(err, "%s: tag", what)
		}
	}
	defer func() {
		if rerr := d.untagPushed(ctx, src.ID, src.RepoDigests, target, prev, digest, auth); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	resp, err := d.cli.ImagePush(ctx, target, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", d.registryFail(err, what, host)
	}
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return "", d.fail(err, "%s", what)
		}
		if m.Error != nil {
			return "", runtime.WrapEngine("docker", what+": registry "+host, runtime.ErrUnavailable, m.Error)
		}
		var aux struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
			digest = aux.Digest
		}
	}
	if digest == "" { // an engine that sends no aux: the digest reference the push left
		if after, err := d.cli.ImageInspect(ctx, src.ID); err == nil {
			for _, rd := range after.RepoDigests {
				if repo, dg, ok := strings.Cut(rd, "@"); ok && repo == reference.FamiliarName(named) && !slices.Contains(src.RepoDigests, rd) {
					digest = dg
				}
			}
		}
	}
	if digest == "" {
		return "", fmt.Errorf("docker: %s: the engine reported no digest", what)
	}
	return digest, nil
}

// untagPushed leaves the pushed image id with the references it had, whatever
// ctx says: target is removed (or given back to prev, the image it named
// before), the digest references the push added go, and those Docker's
// removal of target took are pulled back (see PushImage). digest is the
// pushed manifest's, if known.
func (d *Driver) untagPushed(ctx context.Context, id string, had []string, target, prev, digest, auth string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	switch {
	case prev == id: // target named the image already: it stays
	case prev != "":
		if _, err := d.cli.ImageTag(ctx, client.ImageTagOptions{Source: prev, Target: target}); err != nil {
			errs = append(errs, d.fail(err, "give %s back to %s", target, prev))
		}
	default:
		if _, err := d.cli.ImageRemove(ctx, target, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, d.fail(err, "remove the push's reference %s", target))
		}
	}
	var now []string
	gone := false
	switch after, err := d.cli.ImageInspect(ctx, id); {
	case err == nil:
		now = after.RepoDigests
		refs := len(tags(after.RepoTags)) + len(after.RepoDigests)
		for _, rd := range after.RepoDigests {
			if slices.Contains(had, rd) || refs == 1 { // never its last reference: that deletes it
				continue
			}
			if _, err := d.cli.ImageRemove(ctx, rd, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, d.fail(err, "remove the push's reference %s", rd))
			}
			refs--
		}
	case cerrdefs.IsNotFound(err):
		gone = true
	default:
		errs = append(errs, d.fail(err, "inspect the pushed image %s", id))
	}
	lost := slices.DeleteFunc(slices.Clone(had), func(rd string) bool { return slices.Contains(now, rd) })
	if gone && len(lost) == 0 && digest != "" {
		// It had no reference at all: keep it under the pushed digest.
		named, _ := reference.ParseNormalizedNamed(target)
		lost = append(lost, reference.FamiliarName(named)+"@"+digest)
	}
	for _, rd := range lost {
		named, err := reference.ParseNormalizedNamed(rd)
		if err == nil {
			err = d.pull(ctx, rd, auth, "pull back "+rd, reference.Domain(named))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// PullDigest has the engine pull src, a reference by digest, and returns
// the image (CapRegistry). The engine fetches only what it lacks: an image
// it has already only gains the digest reference.
func (d *Driver) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	what := "pull " + src
	named, err := reference.ParseNormalizedNamed(src)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("docker: %s: %w: reference %q: %v", what, runtime.ErrInvalidArgument, src, err)
	}
	if _, ok := named.(reference.Canonical); !ok {
		return runtime.Image{}, fmt.Errorf("docker: %s: %w: reference %q has no digest", what, runtime.ErrInvalidArgument, src)
	}
	auth, err := registryAuth(opts, reference.Domain(named))
	if err != nil {
		return runtime.Image{}, fmt.Errorf("docker: %s: %w", what, err)
	}
	if err := d.pull(ctx, src, auth, what, reference.Domain(named)); err != nil {
		return runtime.Image{}, err
	}
	return d.InspectImage(ctx, src)
}

// pull has the engine pull ref from registry host and reads the progress
// stream to its end.
func (d *Driver) pull(ctx context.Context, ref, auth, what, host string) error {
	resp, err := d.cli.ImagePull(ctx, ref, client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return d.registryFail(err, what, host)
	}
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return d.fail(err, "%s", what)
		}
		if m.Error != nil {
			class := runtime.ErrUnavailable
			if unknown(m.Error.Message) {
				class = runtime.ErrNotFound
			}
			return runtime.WrapEngine("docker", what+": registry "+host, class, m.Error)
		}
	}
	return nil
}

// registryFail classifies the engine's refusal of a push or pull to the
// registry host: the classes of fail where they say what went wrong (a
// missing image or manifest, a bad reference, a daemon that cannot be
// reached, a cancelled call), a manifest the registry does not know
// (ErrNotFound: the engine may answer it with a 500), else a registry that
// cannot be reached or refuses (ErrUnavailable, naming it).
func (d *Driver) registryFail(err error, what, host string) error {
	e := d.fail(err, "%s", what)
	switch {
	case errors.Is(e, runtime.ErrNotFound) || errors.Is(e, runtime.ErrInvalidArgument) || errors.Is(e, runtime.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return e
	case unknown(err.Error()):
		return runtime.WrapEngine("docker", what+": registry "+host, runtime.ErrNotFound, err)
	}
	return runtime.WrapEngine("docker", what+": registry "+host, runtime.ErrUnavailable, err)
}

// unknown reports whether the engine's message says the registry has no
// such manifest or repository ("manifest unknown", "... not found").
func unknown(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "manifest unknown") || strings.Contains(msg, "name unknown") || strings.Contains(msg, "not found")
}

// parseDest reads a push's destination: a name with a tag ("latest" if
// none), without digest.
func parseDest(dest string) (reference.Named, error) {
	named, err := reference.ParseNormalizedNamed(dest)
	if err != nil {
		return nil, fmt.Errorf("%w: destination %q: %v", runtime.ErrInvalidArgument, dest, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("%w: destination %q has a digest, want name:tag", runtime.ErrInvalidArgument, dest)
	}
	return reference.TagNameOnly(named), nil
}

// registryAuth is the X-Registry-Auth value for opts: the credentials as
// base64url JSON, "{}" when anonymous (the engine wants the header even
// then).
func registryAuth(opts runtime.RegistryOptions, host string) (string, error) {
	cfg := registry.AuthConfig{}
	if opts.Username != "" || opts.Password != "" {
		cfg = registry.AuthConfig{Username: opts.Username, Password: opts.Password, ServerAddress: host}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}
