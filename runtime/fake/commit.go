package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

// Commit makes an image of an exited container: its image's layers plus
// one layer of the container's changes, or (Squash) a single layer of the
// whole file system. A running container is refused with
// runtime.ErrFailedPrecondition, a taken reference with
// runtime.ErrAlreadyExists.
func (r *Runtime) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	return call(ctx, r, OpCommit, func() (runtime.Image, error) {
		if err := r.need(runtime.CapCommit); err != nil {
			return runtime.Image{}, err
		}
		if opts.Squash {
			if err := r.need(runtime.CapSquash); err != nil {
				return runtime.Image{}, err
			}
		}
		if err := checkRef(opts.Ref); err != nil {
			return runtime.Image{}, err
		}
		if err := checkEnv("Changes.Env", opts.Changes.Env); err != nil {
			return runtime.Image{}, err
		}
		if err := ctx.Err(); err != nil {
			return runtime.Image{}, errCtx(ctx, "commit")
		}
		ref := normalizeRef(opts.Ref)
		var out runtime.Image
		err := r.update(func(st *state) error {
			c, err := findContainer(st, id)
			if err != nil {
				return err
			}
			if state, _ := r.effective(c); state == runtime.StateRunning {
				return fmt.Errorf("fake: container %s is running: %w", c.ID, runtime.ErrFailedPrecondition)
			}
			if _, taken := st.Refs[ref]; taken {
				return fmt.Errorf("fake: image reference %q is taken: %w", opts.Ref, runtime.ErrAlreadyExists)
			}
			img := st.Images[c.ImageID]
			if img == nil {
				return fmt.Errorf("fake: image %s of container %s: %w", c.ImageID, c.ID, runtime.ErrNotFound)
			}
			upper := &layer{}
			if c.Upper != "" {
				if upper, err = r.blob(c.Upper); err != nil {
					return err
				}
			}
			var top string
			if opts.Squash {
				base, err := r.flat(st, img.Top)
				if err != nil {
					return err
				}
				m := maps.Clone(base)
				apply(m, upper)
				l := &layer{files: m}
				diff, err := r.putBlob(l)
				if err != nil {
					return err
				}
				top = addLayer(st, "", diff, l.size())
			} else {
				diff := c.Upper
				if diff == "" {
					if diff, err = r.putBlob(upper); err != nil {
						return err
					}
				}
				top = addLayer(st, img.Top, diff, upper.size())
			}
			n := st.next()
			rec := &imageRec{
				ID:      "sha256:" + newID("image", n, c.ID, top),
				Top:     top,
				Config:  commitConfig(img.Config, c.Spec, opts),
				Created: r.cfg.clock(),
				Seq:     n,
			}
			st.Images[rec.ID] = rec
			st.Refs[ref] = rec.ID
			st.changedImages()
			out = imageOf(st, rec)
			return nil
		})
		return out, err
	})
}

// commitConfig is the config of an image committed from a container of
// spec: the container's config without its secret environment, then
// opts.Labels and opts.Changes.
func commitConfig(img imageConfig, spec runtime.ContainerSpec, opts runtime.CommitOptions) imageConfig {
	secret := map[string]bool{}
	for _, kv := range spec.SecretEnv {
		k, _, _ := strings.Cut(kv, "=")
		secret[k] = true
	}
	env := setEnv(img.Env, spec.Env...)
	env = slices.DeleteFunc(env, func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return secret[k]
	})
	cfg := imageConfig{
		Env:        setEnv(env, opts.Changes.Env...),
		Cmd:        slices.Clone(firstNonEmptySlice(opts.Changes.Cmd, spec.Cmd, img.Cmd)),
		WorkingDir: firstNonEmpty(opts.Changes.WorkingDir, spec.WorkingDir, img.WorkingDir),
		Labels:     maps.Clone(img.Labels),
	}
	if cfg.Labels == nil && len(opts.Labels) > 0 {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, opts.Labels)
	return cfg
}

func firstNonEmptySlice(s ...[]string) []string {
	for _, v := range s {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}
