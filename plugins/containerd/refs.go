package containerd

import (
	"context"
	"regexp"
	"sort"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/berth-dev/berth/runtime"
)

var (
	// fullID matches a whole image ID, with or without "sha256:".
	fullID = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)
	// shortID matches an abbreviated image ID.
	shortID = regexp.MustCompile(`^(sha256:)?[0-9a-f]{12,63}$`)
)

// normalizeRef returns ref in containerd's stored form
// ("docker.io/library/x:latest").
func normalizeRef(ref string) (string, error) {
	if ref == "" {
		return "", invalid("empty image reference")
	}
	if fullID.MatchString(ref) {
		return "", invalid("image reference %q is an image ID, not a name", ref)
	}
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", invalid("image reference %q: %v", ref, err)
	}
	return named.String(), nil
}

// familiar returns a stored image name in Docker's short form
// ("x:latest"), or the name itself if it does not parse.
func familiar(name string) string {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarString(named)
}

// resolveImage returns the image records ref names: a reference gives its
// one record; an image ID (whole or abbreviated, at least 12 digits) gives
// every record with that target, sorted by name, and byID true.
func (d *Driver) resolveImage(ctx context.Context, ref string) (imgs []images.Image, byID bool, err error) {
	if ref == "" {
		return nil, false, invalid("empty image reference")
	}
	is := d.c.ImageService()
	if fullID.MatchString(ref) {
		dgst := "sha256:" + strings.TrimPrefix(ref, "sha256:")
		imgs, err := is.List(ctx, "target.digest=="+dgst)
		if err != nil {
			return nil, false, d.wrap(ctx, err, "image %s", ref)
		}
		if len(imgs) == 0 {
			return nil, false, d.wrap(ctx, runtime.ErrNotFound, "image %s", ref)
		}
		sortImages(imgs)
		return imgs, true, nil
	}
	name, perr := reference.ParseDockerRef(ref)
	if perr == nil {
		img, err := is.Get(ctx, name.String())
		if err == nil {
			return []images.Image{img}, false, nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, false, d.wrap(ctx, err, "image %s", ref)
		}
	}
	if shortID.MatchString(ref) {
		found, err := d.imagesWithIDPrefix(ctx, ref)
		if err != nil || len(found) > 0 {
			return found, true, err
		}
	}
	if perr != nil {
		return nil, false, invalid("image reference %q: %v", ref, perr)
	}
	return nil, false, d.wrap(ctx, runtime.ErrNotFound, "image %s", ref)
}

// imagesWithIDPrefix returns the records whose target digest starts with
// the abbreviated ID ref.
func (d *Driver) imagesWithIDPrefix(ctx context.Context, ref string) ([]images.Image, error) {
	prefix := "sha256:" + strings.TrimPrefix(ref, "sha256:")
	all, err := d.c.ImageService().List(ctx)
	if err != nil {
		return nil, d.wrap(ctx, err, "image %s", ref)
	}
	var found []images.Image
	target := ""
	for _, img := range all {
		t := img.Target.Digest.String()
		if !strings.HasPrefix(t, prefix) {
			continue
		}
		if target != "" && t != target {
			return nil, invalid("image ID prefix %q is ambiguous", ref)
		}
		target = t
		found = append(found, img)
	}
	sortImages(found)
	return found, nil
}

func sortImages(imgs []images.Image) {
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
}
