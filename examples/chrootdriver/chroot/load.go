package chroot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/archive"
)

// LoadImage loads the images of a docker-save archive or OCI layout, read
// by package archive. Each becomes a directory holding its layers applied
// in order. References are given only once every image is in place, so a
// failed load leaves none.
func (d *Driver) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	images, err := archive.Read(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("chroot: load: %w", err)
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("chroot: load: no image in the archive: %w", runtime.ErrInvalidArgument)
	}
	work, err := d.tempDir("load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var built []*image
	for i, a := range images {
		img, err := d.buildImage(ctx, filepath.Join(work, fmt.Sprint("image-", i)), a)
		if err != nil {
			return nil, err
		}
		built = append(built, img)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]runtime.Image, 0, len(built))
	for i, img := range built {
		have := d.images[img.Hex]
		if have == nil {
			if err := os.Rename(filepath.Join(work, fmt.Sprint("image-", i)), d.imageDir(img.Hex)); err != nil {
				return nil, err
			}
			d.images[img.Hex] = img
			have = img
		}
		for _, ref := range images[i].Refs {
			norm, err := normalizeRef(ref)
			if err != nil {
				return nil, err
			}
			if err := d.tag(have, norm); err != nil {
				return nil, err
			}
		}
		out = append(out, have.public())
	}
	return out, nil
}

// buildImage makes the directory of one archived image in dir.
func (d *Driver) buildImage(ctx context.Context, dir string, a archive.Image) (*image, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return nil, err
	}
	for _, l := range a.Layers {
		if err := extractLayer(ctx, rootfs, bytes.NewReader(l)); err != nil {
			return nil, err
		}
	}
	cfg := a.Config.Config
	img := &image{
		Hex:        strings.TrimPrefix(a.ID, "sha256:"),
		Layers:     len(a.Layers),
		Size:       treeSize(rootfs),
		Labels:     cfg.Labels,
		Env:        cfg.Env,
		Cmd:        append(cfg.Entrypoint, cfg.Cmd...),
		WorkingDir: cfg.WorkingDir,
		Created:    a.Config.Created,
	}
	if img.Created.IsZero() {
		img.Created = time.Now()
	}
	if err := writeJSON(filepath.Join(dir, "image.json"), img); err != nil {
		return nil, err
	}
	return img, nil
}
