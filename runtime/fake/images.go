package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/archive"
)

// normalizeRef adds ":latest" to a reference without tag or digest.
func normalizeRef(ref string) string {
	if last := ref[strings.LastIndexByte(ref, '/')+1:]; !strings.HasPrefix(ref, "sha256:") && !strings.ContainsAny(last, ":@") {
		return ref + ":latest"
	}
	return ref
}

// refPattern is Docker's grammar of references without digest:
// [domain[:port]/]component[/component...][:tag], where a domain has a dot
// or a port, or is localhost.
var refPattern = regexp.MustCompile(`^((([A-Za-z0-9-]*\.[A-Za-z0-9.-]*|localhost)(:[0-9]+)?|[A-Za-z0-9.-]+:[0-9]+)/)?` +
	`[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$`)

func checkRef(ref string) error {
	if !refPattern.MatchString(ref) {
		return fmt.Errorf("fake: invalid image reference %q: %w", ref, runtime.ErrInvalidArgument)
	}
	return nil
}

// findImage returns the image named by ref (a reference or an ID).
func findImage(st *state, ref string) (*imageRec, error) {
	if id := strings.TrimPrefix(ref, "sha256:"); len(id) == 64 && strings.Trim(id, "0123456789abcdef") == "" {
		if img := st.Images["sha256:"+id]; img != nil {
			return img, nil
		}
	}
	if img := st.Images[st.refs[normalizeRef(ref)]]; img != nil {
		return img, nil
	}
	return nil, fmt.Errorf("fake: image %q: %w", ref, runtime.ErrNotFound)
}

// imageOf returns the view of img, made once and shared.
func imageOf(st *state, img *imageRec) runtime.Image {
	if img.view == nil {
		img.view = &runtime.Image{
			ID: img.ID, Refs: slices.Clone(img.Refs), Labels: maps.Clone(img.Config.Labels),
			Env: slices.Clone(img.Config.Env), Created: img.Created,
		}
		if l := st.Layers[img.Top]; l != nil {
			img.view.Layers, img.view.Size = l.Depth, l.Size
		}
		if img.view.Labels == nil {
			img.view.Labels = map[string]string{}
		}
	}
	return *img.view
}

// InspectImage returns the image named by ref (reference or ID).
func (r *Runtime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	return call(ctx, r, OpInspectImage, func() (out runtime.Image, err error) {
		err = r.view(func(st *state) error {
			img, err := findImage(st, ref)
			if err == nil {
				out = imageOf(st, img)
			}
			return err
		})
		return out, err
	})
}

// ListImages returns the images whose labels match filter, oldest first.
func (r *Runtime) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	return call(ctx, r, OpListImages, func() (out []runtime.Image, err error) {
		err = r.view(func(st *state) error {
			for _, img := range st.order {
				if filter.Match(img.Config.Labels) {
					out = append(out, imageOf(st, img))
				}
			}
			return nil
		})
		return out, err
	})
}

// RemoveImage removes the reference ref, and the image when ref is its ID
// or its last reference (runtime.ErrConflict if a container uses it).
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	return call0(ctx, r, OpRemoveImage, func() error {
		return r.update(func(st *state) error {
			img, err := findImage(st, ref)
			if err != nil {
				return err
			}
			if norm := normalizeRef(ref); st.refs[norm] == img.ID && len(img.Refs) > 1 {
				st.setRef(norm, "")
				return nil
			}
			for _, c := range st.Containers {
				if c.ImageID == img.ID {
					return fmt.Errorf("fake: image %q is used by container %s: %w", ref, c.ID, runtime.ErrConflict)
				}
			}
			st.dropImage(img)
			r.release(st, img.Top)
			return nil
		})
	})
}

// PullImage loads what WithRegistry catalogues as ref (or ErrNotFound).
func (r *Runtime) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	return call(ctx, r, OpPullImage, func() (runtime.Image, error) {
		if err := r.need(runtime.CapPull); err != nil {
			return runtime.Image{}, err
		}
		if err := checkRef(ref); err != nil {
			return runtime.Image{}, err
		}
		tarball, ok := r.cfg.registry[normalizeRef(ref)]
		if !ok {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: not in the registry catalogue: %w", ref, runtime.ErrNotFound)
		}
		imgs, err := archive.Read(ctx, bytes.NewReader(tarball))
		if err == nil && len(imgs) == 0 {
			err = fmt.Errorf("catalogue entry holds no image: %w", runtime.ErrNotFound)
		}
		if err != nil {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: %w", ref, err)
		}
		imgs[0].Refs = []string{ref}
		out, err := r.store(ctx, imgs[:1])
		if err != nil {
			return runtime.Image{}, err
		}
		return out[0], nil
	})
}

// LoadImage loads every image of a docker-save or OCI layout archive; a
// reference another image had moves to the loaded one.
func (r *Runtime) LoadImage(ctx context.Context, rd io.Reader) ([]runtime.Image, error) {
	return call(ctx, r, OpLoadImage, func() ([]runtime.Image, error) {
		if err := r.need(runtime.CapLoad); err != nil {
			return nil, err
		}
		imgs, err := archive.Read(ctx, rd)
		if err != nil {
			return nil, fmt.Errorf("fake: load: %w", err)
		}
		return r.store(ctx, imgs)
	})
}

// store records the images of an archive, all or none.
func (r *Runtime) store(ctx context.Context, imgs []archive.Image) (out []runtime.Image, err error) {
	layers := make([][]*layer, len(imgs))
	for i, img := range imgs {
		for j, raw := range img.Layers {
			l, err := parseLayer(raw)
			if err != nil {
				return nil, fmt.Errorf("fake: load: layer %d: %w", j, err)
			}
			layers[i] = append(layers[i], l)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, errCtx(ctx, "load")
	}
	err = r.update(func(st *state) error {
		for i, img := range imgs {
			top := ""
			for j, l := range layers[i] {
				id := img.Config.RootFS.DiffIDs[j]
				if err := r.putBlob(id, l); err != nil {
					return err
				}
				top = addLayer(st, top, id, l.size())
			}
			if st.Images[img.ID] == nil {
				st.addImage(&imageRec{ID: img.ID, Top: top, Created: img.Config.Created, Seq: st.next(), Config: img.Config.Config})
			}
			for _, ref := range img.Refs {
				st.setRef(normalizeRef(ref), img.ID)
			}
		}
		for _, img := range imgs {
			out = append(out, imageOf(st, st.Images[img.ID]))
		}
		return nil
	})
	return out, err
}

// Tag gives the image src (a reference or ID) the reference ref too, as
// `docker tag` does; not part of the contract, tests act as users with it.
func (r *Runtime) Tag(src, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	return r.update(func(st *state) error {
		img, err := findImage(st, src)
		if err == nil {
			st.setRef(normalizeRef(ref), img.ID)
		}
		return err
	})
}
