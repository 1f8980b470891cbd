package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime/archive"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Why scrub exists: Docker's commit stores, next to the image's config, the
// whole config of the container it came from ("container_config"), Env and
// all, and offers no way to leave it out. A container run with SecretEnv
// would leak the values into every image committed from it.
//
// scrub writes the committed image's config again, without the container
// config and without the secret keys, and loads it as a new image under
// ref. The engine has every layer already (the commit just made the last
// one), and docker load only reads a layer file for a layer it does not
// have, so the tar holds the config and the manifest only: a few kilobytes,
// whatever the image's size. The caller then deletes the committed image,
// which deletes its config from the engine.
func (d *Driver) scrub(ctx context.Context, id string, secrets []string, ref string) (string, error) {
	return d.rewrite(ctx, "scrub", id, ref, func(cfg *dockerspec.DockerOCIImageConfig) {
		cfg.Env = slices.DeleteFunc(slices.Clone(cfg.Env), func(e string) bool {
			k, _, _ := strings.Cut(e, "=")
			return slices.Contains(secrets, k)
		})
	})
}

// rewrite loads the image id again under ref, with its config (without the
// container config, and without the label that names a container's
// secrets) as edit leaves it; its layers are the engine's already. It
// returns the new image's ID. op names the operation in errors.
func (d *Driver) rewrite(ctx context.Context, op, id, ref string, edit func(*dockerspec.DockerOCIImageConfig)) (string, error) {
	insp, err := d.cli.ImageInspect(ctx, id)
	if err != nil {
		return "", d.fail(err, "%s image %s: inspect", op, id)
	}
	hist, err := d.cli.ImageHistory(ctx, id)
	if err != nil {
		return "", d.fail(err, "%s image %s: history", op, id)
	}
	var cfg dockerspec.DockerOCIImageConfig
	if insp.Config != nil {
		cfg = *insp.Config
	}
	cfg.Labels = visibleLabels(cfg.Labels)
	edit(&cfg)
	diffIDs := make([]digest.Digest, len(insp.RootFS.Layers))
	for i, l := range insp.RootFS.Layers {
		diffIDs[i] = digest.Digest(l)
	}
	created, _ := time.Parse(time.RFC3339Nano, insp.Created)
	img := dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created: &created,
			Author:  insp.Author,
			Platform: ocispec.Platform{
				Architecture: insp.Architecture,
				OS:           insp.Os,
				OSVersion:    insp.OsVersion,
				Variant:      insp.Variant,
			},
			RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
			History: history(hist.Items, len(diffIDs)),
		},
		Config: cfg,
	}
	config, err := json.Marshal(img)
	if err != nil {
		return "", fmt.Errorf("docker: %s image %s: %w", op, id, err)
	}
	var buf bytes.Buffer
	newID, err := archive.WriteConfig(&buf, config, ref)
	if err != nil {
		return "", fmt.Errorf("docker: %s image %s: %w", op, id, err)
	}
	if _, err := d.load(ctx, &buf); err != nil {
		return "", fmt.Errorf("docker: %s image %s: %w", op, id, err)
	}
	return newID, nil
}

// history rebuilds the config's history from the engine's history view
// (newest first, times in seconds, an empty layer shown with size 0). If
// the layers cannot be told apart from the empty entries with certainty,
// it returns no history, which the engine accepts.
func history(items []image.HistoryResponseItem, layers int) []ocispec.History {
	out := make([]ocispec.History, 0, len(items))
	nonEmpty := 0
	for _, it := range slices.Backward(items) {
		created := time.Unix(it.Created, 0).UTC()
		h := ocispec.History{Created: &created, CreatedBy: it.CreatedBy, Comment: it.Comment, EmptyLayer: it.Size == 0}
		if !h.EmptyLayer {
			nonEmpty++
		}
		out = append(out, h)
	}
	if nonEmpty == layers {
		return out
	}
	// Some layers have size 0: when every size-0 entry must be a layer,
	// it is certain again.
	if len(out) == layers {
		for i := range out {
			out[i].EmptyLayer = false
		}
		return out
	}
	return nil
}
