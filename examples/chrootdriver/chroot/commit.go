package chroot

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Commit copies the exited container's tree into a new image directory.
// The image inherits the labels of the container's image plus opts.Labels,
// the container's config (without the keys of its SecretEnv) and has one
// layer more than its parent, or one layer if squashed: the tree is whole
// either way.
func (d *Driver) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	d.mu.Lock()
	c, err := d.lookupContainer(id)
	if err != nil {
		d.mu.Unlock()
		return runtime.Image{}, err
	}
	ref, err := normalizeRef(opts.Ref)
	if err != nil {
		d.mu.Unlock()
		return runtime.Image{}, err
	}
	if c.State != runtime.StateExited {
		d.mu.Unlock()
		return runtime.Image{}, fmt.Errorf("chroot: commit %s: container is %s, not exited: %w", id, c.State, runtime.ErrFailedPrecondition)
	}
	for _, kv := range opts.Changes.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			d.mu.Unlock()
			return runtime.Image{}, fmt.Errorf("chroot: commit: env entry %q is not KEY=VALUE: %w", kv, runtime.ErrInvalidArgument)
		}
	}
	parent := d.images[c.ImageHex]
	img := &image{
		Labels:     maps.Clone(parent.Labels),
		Env:        dropKeys(c.Env, c.SecretKeys),
		Cmd:        slices.Clone(c.Cmd),
		WorkingDir: c.WorkingDir,
		Layers:     parent.Layers + 1,
		Created:    time.Now(),
	}
	d.mu.Unlock()

	if img.Labels == nil {
		img.Labels = map[string]string{}
	}
	maps.Copy(img.Labels, opts.Labels)
	img.Env = mergeEnv(img.Env, opts.Changes.Env)
	if len(opts.Changes.Cmd) > 0 {
		img.Cmd = slices.Clone(opts.Changes.Cmd)
	}
	img.WorkingDir = cmp.Or(opts.Changes.WorkingDir, img.WorkingDir)
	if opts.Squash {
		img.Layers = 1
	}
	img.Hex = newHex([]byte(c.ID + ref))

	work, err := d.tempDir("commit-")
	if err != nil {
		return runtime.Image{}, err
	}
	defer os.RemoveAll(work)
	rootfs := filepath.Join(work, "rootfs")
	if err := copyTree(ctx, filepath.Join(d.containerDir(c.ID), "rootfs"), rootfs); err != nil {
		return runtime.Image{}, fmt.Errorf("chroot: commit %s: %w", id, err)
	}
	img.Size = treeSize(rootfs)
	if err := writeJSON(filepath.Join(work, "image.json"), img); err != nil {
		return runtime.Image{}, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return runtime.Image{}, err
	}
	if err := os.Rename(work, d.imageDir(img.Hex)); err != nil {
		return runtime.Image{}, err
	}
	d.images[img.Hex] = img
	if err := d.tag(img, ref); err != nil {
		return runtime.Image{}, err
	}
	return img.public(), nil
}
