package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

// InspectImage returns the image named by ref (a reference or an ID).
func (d *Driver) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	if strings.TrimSpace(ref) == "" {
		return runtime.Image{}, fmt.Errorf("docker: inspect image: %w: empty reference", runtime.ErrInvalidArgument)
	}
	res, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, d.fail(err, "inspect image %q", ref)
	}
	img := runtime.Image{
		ID:     res.ID,
		Refs:   tags(res.RepoTags),
		Size:   res.Size,
		Layers: len(res.RootFS.Layers),
	}
	if c := res.Config; c != nil {
		img.Labels = visibleLabels(c.Labels)
		img.Env = c.Env
	}
	img.Created, _ = time.Parse(time.RFC3339Nano, res.Created)
	return img, nil
}

// tags drops the "<none>:<none>" placeholder older engines report.
func tags(repoTags []string) []string {
	return slices.DeleteFunc(slices.Clone(repoTags), func(t string) bool { return t == "<none>:<none>" })
}

// PullImage pulls ref from its registry.
func (d *Driver) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	if err := checkRef(ref); err != nil {
		return runtime.Image{}, fmt.Errorf("docker: pull: %w", err)
	}
	resp, err := d.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return runtime.Image{}, d.fail(err, "pull %q", ref)
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return runtime.Image{}, d.fail(err, "pull %q", ref)
	}
	return d.InspectImage(ctx, ref)
}

// checkRef checks that ref is a name[:tag] reference.
func checkRef(ref string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return fmt.Errorf("%w: reference %q: %v", runtime.ErrInvalidArgument, ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return fmt.Errorf("%w: reference %q has a digest, want name:tag", runtime.ErrInvalidArgument, ref)
	}
	return nil
}

// LoadImage loads a docker-save (or OCI layout) tar stream.
func (d *Driver) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	loaded, err := d.load(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("docker: load images: %w", err)
	}
	if len(loaded) == 0 {
		return nil, fmt.Errorf("docker: load images: %w: the stream held no image", runtime.ErrInvalidArgument)
	}
	var out []runtime.Image
	seen := map[string]bool{}
	for _, ref := range loaded {
		img, err := d.InspectImage(ctx, ref)
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

// load sends a tar stream to the engine's load and returns what the engine
// reports it loaded: each image as a line of the JSON message stream,
// "Loaded image: name:tag" or, for an untagged one, "Loaded image ID: sha256:...".
func (d *Driver) load(ctx context.Context, r io.Reader) ([]string, error) {
	rc, err := d.cli.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, d.fail(err, "load")
	}
	defer rc.Close()
	var loaded []string
	dec := json.NewDecoder(rc)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return loaded, nil
		} else if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, d.fail(err, "read the load response")
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%w: %s", runtime.ErrInvalidArgument, m.Error.Message)
		}
		for line := range strings.Lines(m.Stream) {
			line = strings.TrimSpace(line)
			if id, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
				loaded = append(loaded, id)
			} else if ref, ok := strings.CutPrefix(line, "Loaded image: "); ok {
				loaded = append(loaded, ref)
			}
		}
	}
}

// imageIDPrefix matches what the engine accepts as an image ID (or prefix).
var imageIDPrefix = regexp.MustCompile(`^(sha256:)?[0-9a-f]{1,64}$`)

// RemoveImage removes the reference ref, and the image with its last
// reference. It never forces: an image a container uses is a conflict.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	if strings.TrimSpace(ref) == "" {
		return fmt.Errorf("docker: remove image: %w: empty reference", runtime.ErrInvalidArgument)
	}
	res, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return d.fail(err, "remove image %q", ref)
	}
	refs := tags(res.RepoTags)
	byID := imageIDPrefix.MatchString(ref) && strings.HasPrefix(res.ID, "sha256:"+strings.TrimPrefix(ref, "sha256:")) &&
		!slices.Contains(refs, ref)
	if byID && len(refs) > 1 {
		// The engine refuses an ID with several references unless forced,
		// and force would also delete an image a stopped container uses.
		// So: check for containers, then remove each reference; the last
		// removal deletes the image.
		users, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("ancestor", res.ID)})
		if err != nil {
			return d.fail(err, "remove image %q: list its containers", ref)
		}
		if len(users.Items) > 0 {
			return fmt.Errorf("docker: remove image %q: %w: used by container %s", ref, runtime.ErrConflict, users.Items[0].ID)
		}
		for _, t := range refs {
			if err := d.removeImage(ctx, t); err != nil {
				return err
			}
		}
		if _, err := d.cli.ImageInspect(ctx, res.ID); err == nil {
			return d.removeImage(ctx, res.ID) // still there (it has children): say why
		}
		return nil
	}
	return d.removeImage(ctx, ref)
}

func (d *Driver) removeImage(ctx context.Context, ref string) error {
	// PruneChildren also deletes the untagged parents left by earlier
	// commits once nothing else needs them, as `docker rmi` does.
	if _, err := d.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
		return d.fail(err, "remove image %q", ref)
	}
	return nil
}

// ListImages returns the images whose labels match filter.
func (d *Driver) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	res, err := d.cli.ImageList(ctx, client.ImageListOptions{Filters: labelFilters(filter)})
	if err != nil {
		return nil, d.fail(err, "list images")
	}
	ids := make([]string, len(res.Items))
	for i, s := range res.Items {
		ids[i] = s.ID
	}
	return inspectAll(ctx, ids, d.InspectImage) // for layers and env
}
