package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/image/v5/docker/reference"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"
)

// Exit codes of Podman's image removal report (see podman-rmi(1)).
const (
	rmiNoSuchImage = 1
	rmiInUse       = 2
)

// InspectImage returns the image ref names (a reference or an image ID).
func (d *Driver) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	if ref == "" {
		return runtime.Image{}, invalid("inspect image", "empty reference")
	}
	c, err := d.client(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	rep, err := images.GetImage(c, ref, nil)
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, "inspect image "+ref, err)
	}
	if !namedByDigest(rep, ref) {
		return runtime.Image{}, notNamed("inspect image", ref)
	}
	return toImage(rep), nil
}

// namedByDigest reports whether ref, if it is a reference by digest
// ("repo@sha256:..."), is one of the image's names. Podman 4 resolves such
// a reference to any image that recorded the digest, whatever the image's
// names, and a pull by digest records it for good: without this check, a
// digest reference removed from an image (RemoveImage, which then only
// untags) would go on naming it. Any other reference is Podman's to
// resolve.
func namedByDigest(rep *types.ImageInspectReport, ref string) bool {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return true
	}
	digested, ok := named.(reference.Digested)
	if !ok {
		return true
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(named), digested.Digest())
	return err == nil && slices.Contains(rep.RepoDigests, canonical.String())
}

// notNamed is the ErrNotFound of a digest reference that Podman resolves
// to an image that does not have it as a name (see namedByDigest).
func notNamed(op, ref string) error {
	return fmt.Errorf("podman: %s %s: %w: no image has this name (an image recorded the digest only)", op, ref, runtime.ErrNotFound)
}

// PullImage pulls ref from its registry.
func (d *Driver) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return runtime.Image{}, invalid("pull", "reference %q: %v", ref, err)
	}
	c, err := d.client(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	ids, err := images.Pull(c, ref, new(images.PullOptions).WithQuiet(true))
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, "pull "+ref, err)
	}
	if len(ids) == 0 {
		return runtime.Image{}, fmt.Errorf("podman: pull %s: the service reported no image", ref)
	}
	return d.InspectImage(ctx, ref)
}

// LoadImage loads the images of a docker-save or OCI archive stream.
func (d *Driver) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	rep, err := images.Load(c, r)
	if err != nil {
		return nil, d.wrap(ctx, "load", err)
	}
	var out []runtime.Image
	seen := map[string]bool{}
	for _, name := range rep.Names {
		img, err := d.InspectImage(ctx, name)
		if err != nil {
			return nil, err
		}
		if !seen[img.ID] {
			seen[img.ID] = true
			out = append(out, img)
		}
	}
	return out, nil
}

// RemoveImage removes the reference ref, or the image ref is the ID of.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	if ref == "" {
		return invalid("remove image", "empty reference")
	}
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	// Podman refuses to remove by ID an image with several names unless
	// forced, and forcing also removes its containers: untag it first,
	// once no container uses it.
	if rep, err := images.GetImage(c, ref, nil); err == nil {
		if !namedByDigest(rep, ref) {
			return notNamed("remove image", ref)
		}
		if strings.HasPrefix(rep.ID, ref) && d.severalNames(c, rep) {
			if err := d.untagUnused(c, rep.ID); err != nil {
				return err
			}
		}
	}
	rep, errs := images.Remove(c, []string{ref}, nil)
	if rep != nil {
		rmErr := errors.Join(errs...)
		if rmErr == nil {
			rmErr = fmt.Errorf("the service's exit code %d", rep.ExitCode)
		}
		switch rep.ExitCode {
		case 0:
			return nil
		case rmiNoSuchImage:
			return runtime.WrapEngine(Name, "remove image "+ref, runtime.ErrNotFound, rmErr)
		case rmiInUse:
			return runtime.WrapEngine(Name, "remove image "+ref+": used by a container", runtime.ErrConflict, rmErr)
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("podman: remove image %s: no report from the service", ref)
	}
	return d.wrap(ctx, "remove image "+ref, errs[0])
}

// severalNames reports whether the image has more than one name. Its
// RepoTags leave out digest references, which a pull by digest adds as
// names, so an image with one tag is looked up in the listing (best
// effort: false if the listing fails).
func (d *Driver) severalNames(c context.Context, rep *types.ImageInspectReport) bool {
	if len(rep.RepoTags) != 1 {
		return len(rep.RepoTags) > 1
	}
	sums, err := images.List(c, &images.ListOptions{Filters: map[string][]string{"id": {rep.ID}}})
	if err != nil {
		return false
	}
	for _, s := range sums {
		if s.ID == rep.ID {
			return len(s.Names) > 1
		}
	}
	return false
}

// untagUnused removes every name of image id, which no container may use.
func (d *Driver) untagUnused(c context.Context, id string) error {
	all := true
	list, err := containers.List(c, &containers.ListOptions{All: &all})
	if err != nil {
		return d.wrap(c, "remove image "+id, err)
	}
	for _, ctr := range list {
		if ctr.ImageID == id {
			return fmt.Errorf("podman: remove image %s: %w: used by container %s", id, runtime.ErrConflict, ctr.ID)
		}
	}
	if err := images.Untag(c, id, "", "", nil); err != nil {
		return d.wrap(c, "untag image "+id, err)
	}
	return nil
}

// ListImages returns the images whose labels match filter.
func (d *Driver) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	c, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	sums, err := images.List(c, &images.ListOptions{Filters: labelFilters(filter)})
	if err != nil {
		return nil, d.wrap(ctx, "list images", err)
	}
	var out []runtime.Image
	for _, s := range sums {
		if !filter.Match(s.Labels) {
			continue
		}
		rep, err := images.GetImage(c, s.ID, nil)
		if isStatus(err, 404) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, d.wrap(ctx, "inspect image "+s.ID, err)
		}
		out = append(out, toImage(rep))
	}
	return out, nil
}

// labelFilters turns one key=value pair of filter into the service's label
// filter, to narrow the listing; callers match the result against the whole
// filter. Podman 4.3's image listing matches neither a bare key nor two
// label filters at once, so one pair is all it gets.
func labelFilters(filter runtime.LabelFilter) map[string][]string {
	var vals []string
	for k, v := range filter {
		if v != "" {
			vals = append(vals, k+"="+v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	slices.Sort(vals)
	return map[string][]string{"label": vals[:1]}
}

func toImage(rep *types.ImageInspectReport) runtime.Image {
	img := runtime.Image{ID: rep.ID, Size: rep.Size, Labels: rep.Labels}
	for _, t := range rep.RepoTags {
		img.Refs = append(img.Refs, shortRef(t))
	}
	if rep.RootFS != nil {
		img.Layers = len(rep.RootFS.Layers)
	}
	if rep.Config != nil {
		img.Env = rep.Config.Env
		if img.Labels == nil {
			img.Labels = rep.Config.Labels
		}
	}
	if rep.Created != nil {
		img.Created = *rep.Created
	}
	return img
}

// shortRef returns ref as it is given without a registry: Podman stores
// "x:t" as localhost/x:t (commit) or docker.io/x:t (load); both resolve
// from "x:t" again.
func shortRef(ref string) string {
	if rest, ok := strings.CutPrefix(ref, "localhost/"); ok {
		return rest
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}
