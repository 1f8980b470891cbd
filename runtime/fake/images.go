package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

// normalizeRef adds ":latest" to a reference without tag or digest. Image
// IDs are returned as they are.
func normalizeRef(ref string) string {
	if strings.HasPrefix(ref, "sha256:") {
		return ref
	}
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	if !strings.ContainsAny(last, ":@") {
		return ref + ":latest"
	}
	return ref
}

var (
	domainPattern    = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$`)
	componentPattern = regexp.MustCompile(`^[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*$`)
	tagPattern       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// checkRef checks that ref is a valid [domain/]name[:tag] reference, as
// Docker reads them.
func checkRef(ref string) error {
	bad := func(why string) error {
		return fmt.Errorf("fake: invalid image reference %q: %s: %w", ref, why, runtime.ErrInvalidArgument)
	}
	if ref == "" {
		return bad("empty")
	}
	name := ref
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		name = ref[:i]
		if !tagPattern.MatchString(ref[i+1:]) {
			return bad("bad tag")
		}
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		if !domainPattern.MatchString(parts[0]) {
			return bad("bad domain")
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if !componentPattern.MatchString(p) {
			return bad("name components are lower-case letters, digits and separators")
		}
	}
	return nil
}

var idPattern = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)

// findImage returns the image named by ref (a reference or an ID).
func findImage(st *state, ref string) (*imageRec, error) {
	if idPattern.MatchString(ref) {
		if img := st.Images["sha256:"+strings.TrimPrefix(ref, "sha256:")]; img != nil {
			return img, nil
		}
	}
	if id, ok := st.Refs[normalizeRef(ref)]; ok {
		if img := st.Images[id]; img != nil {
			return img, nil
		}
	}
	return nil, fmt.Errorf("fake: image %q: %w", ref, runtime.ErrNotFound)
}

// imageOf returns the public view of img.
func imageOf(st *state, img *imageRec) runtime.Image {
	return imageWithRefs(st, img, refsOf(st)[img.ID])
}

// refsOf maps each image ID to its references, sorted: one pass over them
// all, for listings.
func refsOf(st *state) map[string][]string {
	byID := map[string][]string{}
	for ref, id := range st.Refs {
		byID[id] = append(byID[id], ref)
	}
	for _, refs := range byID {
		sort.Strings(refs)
	}
	return byID
}

// imageWithRefs is imageOf with the image's references given.
func imageWithRefs(st *state, img *imageRec, refs []string) runtime.Image {
	out := runtime.Image{
		ID:      img.ID,
		Refs:    slices.Clone(refs),
		Labels:  maps.Clone(img.Config.Labels),
		Env:     slices.Clone(img.Config.Env),
		Created: img.Created,
	}
	if l := st.Layers[img.Top]; l != nil {
		out.Layers, out.Size = l.Depth, l.Size
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	return out
}

// InspectImage returns the image named by ref (reference or ID).
func (r *Runtime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	return call(ctx, r, OpInspectImage, func() (out runtime.Image, err error) {
		err = r.view(func(st *state) error {
			img, err := findImage(st, ref)
			if err != nil {
				return err
			}
			out = imageOf(st, img)
			return nil
		})
		return out, err
	})
}

// ListImages returns the images whose labels match filter, oldest first.
func (r *Runtime) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	return call(ctx, r, OpListImages, func() (out []runtime.Image, err error) {
		err = r.view(func(st *state) error {
			imgs := slices.Collect(maps.Values(st.Images))
			sort.Slice(imgs, func(i, j int) bool { return imgs[i].Seq < imgs[j].Seq })
			refs := refsOf(st)
			for _, img := range imgs {
				if filter.Match(img.Config.Labels) {
					out = append(out, imageWithRefs(st, img, refs[img.ID]))
				}
			}
			return nil
		})
		return out, err
	})
}

// RemoveImage removes the reference ref, and the image when ref is its ID
// or its last reference. Removing a reference the image keeps others of is
// allowed while containers use the image; deleting the image is not
// (runtime.ErrConflict).
func (r *Runtime) RemoveImage(ctx context.Context, ref string) error {
	_, err := call(ctx, r, OpRemoveImage, func() (struct{}, error) {
		return struct{}{}, r.update(func(st *state) error {
			img, err := findImage(st, ref)
			if err != nil {
				return err
			}
			var refs []string
			for name, id := range st.Refs {
				if id == img.ID {
					refs = append(refs, name)
				}
			}
			byRef := st.Refs[normalizeRef(ref)] == img.ID
			if byRef && len(refs) > 1 {
				delete(st.Refs, normalizeRef(ref))
				st.changedImages()
				return nil
			}
			for _, c := range st.Containers {
				if c.ImageID == img.ID {
					return fmt.Errorf("fake: image %q is used by container %s: %w", ref, c.ID, runtime.ErrConflict)
				}
			}
			for _, name := range refs {
				delete(st.Refs, name)
			}
			delete(st.Images, img.ID)
			st.changedImages()
			r.gc(st)
			return nil
		})
	})
	return err
}

// PullImage loads the image the registry catalogue (WithRegistry) has for
// ref and names it ref. It returns runtime.ErrNotFound if the catalogue has
// no such reference.
func (r *Runtime) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	return call(ctx, r, OpPullImage, func() (runtime.Image, error) {
		if err := r.need(runtime.CapPull); err != nil {
			return runtime.Image{}, err
		}
		if err := checkRef(ref); err != nil {
			return runtime.Image{}, err
		}
		norm := normalizeRef(ref)
		tarball, ok := r.cfg.registry[norm]
		if !ok {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: not in the registry catalogue: %w", ref, runtime.ErrNotFound)
		}
		if err := ctx.Err(); err != nil {
			return runtime.Image{}, errCtx(ctx, "pull "+ref)
		}
		imgs, err := parseArchive(ctx, bytes.NewReader(tarball))
		if err != nil {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: %w", ref, err)
		}
		if len(imgs) == 0 {
			return runtime.Image{}, fmt.Errorf("fake: pull %q: catalogue entry holds no image: %w", ref, runtime.ErrNotFound)
		}
		imgs[0].refs = []string{norm}
		out, err := r.store(ctx, imgs[:1])
		if err != nil {
			return runtime.Image{}, err
		}
		return out[0], nil
	})
}

// LoadImage loads every image of a docker-save or OCI layout tar stream.
// Images keep their references; a reference another image had moves to
// the loaded one.
func (r *Runtime) LoadImage(ctx context.Context, rd io.Reader) ([]runtime.Image, error) {
	return call(ctx, r, OpLoadImage, func() ([]runtime.Image, error) {
		if err := r.need(runtime.CapLoad); err != nil {
			return nil, err
		}
		imgs, err := parseArchive(ctx, rd)
		if err != nil {
			return nil, fmt.Errorf("fake: load: %w", err)
		}
		return r.store(ctx, imgs)
	})
}

// store records parsed images, all or none.
func (r *Runtime) store(ctx context.Context, imgs []*parsedImage) ([]runtime.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, errCtx(ctx, "load")
	}
	var out []runtime.Image
	err := r.update(func(st *state) error {
		var recs []*imageRec
		for _, p := range imgs {
			top := ""
			for i, l := range p.layers {
				if err := r.putBlobAs(p.diffIDs[i], l, p.raws[i]); err != nil {
					return err
				}
				top = addLayer(st, top, p.diffIDs[i], l.size())
			}
			img := st.Images[p.id]
			if img == nil {
				img = &imageRec{ID: p.id, Top: top, Config: p.config, Created: p.created, Seq: st.next()}
				st.Images[p.id] = img
			}
			for _, ref := range p.refs {
				st.Refs[ref] = p.id
			}
			st.changedImages()
			recs = append(recs, img)
		}
		for _, img := range recs {
			out = append(out, imageOf(st, img))
		}
		return nil
	})
	return out, err
}

// Tag gives the image named by src (a reference or an ID) the reference
// ref too, moving ref if it named another image: what `docker tag` does.
// It is not part of the contract; tests use it to act as a user of the
// engine would.
func (r *Runtime) Tag(src, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	return r.update(func(st *state) error {
		img, err := findImage(st, src)
		if err != nil {
			return err
		}
		st.Refs[normalizeRef(ref)] = img.ID
		st.changedImages()
		return nil
	})
}
