package podman

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containers/buildah/define"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/domain/entities/types"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ImageCopier = (*Driver)(nil)

// CopyImage makes an image of src's layers and config under opts.Ref, with
// opts.Labels over src's labels (CapCopy), by a build of "FROM src" with
// the labels given as build labels (taken literally, unlike a
// Containerfile's LABEL): no container runs, though the build may add an
// empty layer (which the contract allows). Buildah adds its own
// io.buildah.version label.
func (d *Driver) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	if _, _, err := splitRef(opts.Ref); err != nil {
		return runtime.Image{}, err
	}
	labels := make([]string, 0, len(opts.Labels))
	for _, k := range slices.Sorted(maps.Keys(opts.Labels)) {
		if k == "" || strings.ContainsAny(k, "= \t\n\"") {
			return runtime.Image{}, invalid("copy image", "label key %q", k)
		}
		labels = append(labels, k+"="+opts.Labels[k])
	}
	from, err := d.InspectImage(ctx, src)
	if err != nil {
		return runtime.Image{}, err
	}
	switch _, err := d.InspectImage(ctx, opts.Ref); {
	case err == nil:
		return runtime.Image{}, fmt.Errorf("podman: copy image %s: reference %q is taken: %w", src, opts.Ref, runtime.ErrAlreadyExists)
	case !errors.Is(err, runtime.ErrNotFound):
		return runtime.Image{}, err
	}
	dir, err := os.MkdirTemp("", "berth-copy-")
	if err != nil {
		return runtime.Image{}, fmt.Errorf("podman: copy image %s: %w", src, err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "Containerfile")
	if err := os.WriteFile(file, []byte("FROM "+strings.TrimPrefix(from.ID, "sha256:")+"\n"), 0o600); err != nil {
		return runtime.Image{}, fmt.Errorf("podman: copy image %s: %w", src, err)
	}
	c, err := d.client(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	var bo types.BuildOptions
	bo.ContextDirectory = dir
	bo.Output = opts.Ref
	bo.Labels = labels
	bo.PullPolicy = define.PullNever
	bo.OutputFormat = define.OCIv1ImageManifest
	bo.Out, bo.Err, bo.ReportWriter = io.Discard, io.Discard, io.Discard
	bo.Quiet = true
	rep, err := images.Build(c, []string{file}, bo)
	if err != nil {
		return runtime.Image{}, d.wrap(ctx, "copy image "+src+" to "+opts.Ref, err)
	}
	if rep == nil || rep.ID == "" {
		return runtime.Image{}, fmt.Errorf("podman: copy image %s: the service reported no image", src)
	}
	return d.InspectImage(ctx, rep.ID)
}
