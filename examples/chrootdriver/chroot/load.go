package chroot

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// manifestEntry is one image of a docker-save archive's manifest.json.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// imageConfig is the part of an image config file the driver keeps.
type imageConfig struct {
	Created time.Time `json:"created"`
	Config  struct {
		Env        []string          `json:"Env"`
		Cmd        []string          `json:"Cmd"`
		Entrypoint []string          `json:"Entrypoint"`
		WorkingDir string            `json:"WorkingDir"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

// LoadImage loads the images of a docker-save archive. Each becomes a
// directory holding its layers applied in order. References are given only
// once every image is in place, so a failed load leaves none.
func (d *Driver) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	work, err := d.tempDir("load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	archive := filepath.Join(work, "archive")
	if err := spool(ctx, archive, r); err != nil {
		return nil, err
	}
	mb, err := os.ReadFile(filepath.Join(archive, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("chroot: load: not a docker-save archive (no manifest.json): %w", runtime.ErrInvalidArgument)
	}
	var manifest []manifestEntry
	if err := json.Unmarshal(mb, &manifest); err != nil || len(manifest) == 0 {
		return nil, fmt.Errorf("chroot: load: bad manifest.json: %v: %w", err, runtime.ErrInvalidArgument)
	}
	var built []*image
	for i, m := range manifest {
		img, err := d.buildImage(ctx, archive, filepath.Join(work, fmt.Sprint("image-", i)), m)
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
		for _, ref := range manifest[i].RepoTags {
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
func (d *Driver) buildImage(ctx context.Context, archive, dir string, m manifestEntry) (*image, error) {
	cb, err := os.ReadFile(filepath.Join(archive, filepath.Clean("/"+m.Config)))
	if err != nil {
		return nil, fmt.Errorf("chroot: load: config %s: %v: %w", m.Config, err, runtime.ErrInvalidArgument)
	}
	var cfg imageConfig
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return nil, fmt.Errorf("chroot: load: config %s: %v: %w", m.Config, err, runtime.ErrInvalidArgument)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		f, err := os.Open(filepath.Join(archive, filepath.Clean("/"+l)))
		if err != nil {
			return nil, fmt.Errorf("chroot: load: layer %s: %v: %w", l, err, runtime.ErrInvalidArgument)
		}
		err = extractLayer(ctx, rootfs, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(cb)
	img := &image{
		Hex:        hex.EncodeToString(sum[:]),
		Layers:     len(m.Layers),
		Size:       treeSize(rootfs),
		Labels:     cfg.Config.Labels,
		Env:        cfg.Config.Env,
		Cmd:        append(cfg.Config.Entrypoint, cfg.Config.Cmd...),
		WorkingDir: cfg.Config.WorkingDir,
		Created:    cfg.Created,
	}
	if img.Created.IsZero() {
		img.Created = time.Now()
	}
	if err := writeJSON(filepath.Join(dir, "image.json"), img); err != nil {
		return nil, err
	}
	return img, nil
}

// spool writes the regular files of the tar stream r below dir.
func spool(ctx context.Context, dir string, r io.Reader) error {
	tr := tar.NewReader(r)
	n := 0
	for ; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("chroot: load: not a tar stream: %v: %w", err, runtime.ErrInvalidArgument)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name, err := safeName(hdr.Name)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if err = errors.Join(err, f.Close()); err != nil {
			return fmt.Errorf("chroot: load: %s: %w", hdr.Name, err)
		}
	}
	if n == 0 {
		return fmt.Errorf("chroot: load: empty archive: %w", runtime.ErrInvalidArgument)
	}
	return nil
}
