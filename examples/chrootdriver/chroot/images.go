package chroot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// image is an image's metadata, stored as image.json next to its rootfs.
type image struct {
	Hex        string            `json:"hex"`
	Refs       []string          `json:"refs"`
	Layers     int               `json:"layers"`
	Size       int64             `json:"size"`
	Labels     map[string]string `json:"labels,omitempty"`
	Env        []string          `json:"env,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	Created    time.Time         `json:"created"`
}

func (img *image) public() runtime.Image {
	return runtime.Image{
		ID:      "sha256:" + img.Hex,
		Refs:    slices.Clone(img.Refs),
		Size:    img.Size,
		Layers:  img.Layers,
		Labels:  maps.Clone(img.Labels),
		Env:     slices.Clone(img.Env),
		Created: img.Created,
	}
}

func (d *Driver) imageDir(hex string) string { return filepath.Join(d.dir, "images", hex) }

// saveImage writes img's metadata. Callers hold d.mu or own img alone.
func (d *Driver) saveImage(img *image) error {
	return writeJSON(filepath.Join(d.imageDir(img.Hex), "image.json"), img)
}

// normalizeRef adds the default tag; it refuses what is not a reference.
func normalizeRef(ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, " \t\n") {
		return "", fmt.Errorf("chroot: bad image reference %q: %w", ref, runtime.ErrInvalidArgument)
	}
	if strings.HasPrefix(ref, "sha256:") {
		return ref, nil
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if !strings.ContainsAny(last, ":@") {
		ref += ":latest"
	}
	return ref, nil
}

// lookupImage finds an image by reference or ID. Callers hold d.mu.
func (d *Driver) lookupImage(ref string) (*image, error) {
	if h, ok := strings.CutPrefix(ref, "sha256:"); ok {
		if img := d.images[h]; img != nil {
			return img, nil
		}
	} else if norm, err := normalizeRef(ref); err == nil {
		for _, img := range d.images {
			if slices.Contains(img.Refs, norm) {
				return img, nil
			}
		}
	}
	return nil, fmt.Errorf("chroot: image %q: %w", ref, runtime.ErrNotFound)
}

// tag gives ref to img, taking it from any other image. Callers hold d.mu.
func (d *Driver) tag(img *image, ref string) error {
	for _, other := range d.images {
		if other != img && slices.Contains(other.Refs, ref) {
			other.Refs = slices.DeleteFunc(other.Refs, func(r string) bool { return r == ref })
			if err := d.saveImage(other); err != nil {
				return err
			}
		}
	}
	if !slices.Contains(img.Refs, ref) {
		img.Refs = append(img.Refs, ref)
	}
	return d.saveImage(img)
}

// InspectImage returns the image named by ref (a reference or an ID).
func (d *Driver) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	img, err := d.lookupImage(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	return img.public(), nil
}

// ListImages returns the images whose labels match filter.
func (d *Driver) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []runtime.Image
	for _, img := range d.images {
		if filter.Match(img.Labels) {
			out = append(out, img.public())
		}
	}
	return out, nil
}

// RemoveImage removes a reference, and the image with its last reference
// (or when ref is its ID), unless a container uses it.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	img, err := d.lookupImage(ref)
	if err != nil {
		return err
	}
	byID := strings.HasPrefix(ref, "sha256:")
	if !byID && len(img.Refs) > 1 {
		norm, _ := normalizeRef(ref)
		img.Refs = slices.DeleteFunc(img.Refs, func(r string) bool { return r == norm })
		return d.saveImage(img)
	}
	for _, c := range d.containers {
		if c.ImageHex == img.Hex {
			return fmt.Errorf("chroot: image %s is used by container %s: %w", ref, c.ID, runtime.ErrConflict)
		}
	}
	delete(d.images, img.Hex)
	return d.removeDir(d.imageDir(img.Hex))
}

// removeDir removes a directory tree, moving it to tmp first so that a
// crash never leaves half an image or container in place.
func (d *Driver) removeDir(dir string) error {
	trash, err := d.tempDir("trash-")
	if err != nil {
		return err
	}
	if err := os.Rename(dir, filepath.Join(trash, "x")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.RemoveAll(trash)
}

// newHex returns a fresh image ID (hex part), a digest of seed and random
// bytes.
func newHex(seed []byte) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	sum := sha256.Sum256(append(seed, salt...))
	return hex.EncodeToString(sum[:])
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
