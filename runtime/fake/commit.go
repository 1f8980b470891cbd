package fake

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berth-dev/berth/runtime"
)

// Commit makes an image of an exited container: its image's layers and one
// of its changes, or (Squash) one layer of the whole file system.
func (r *Runtime) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	return call(ctx, r, OpCommit, func() (out runtime.Image, err error) {
		capability := runtime.CapCommit
		if opts.Squash {
			capability = runtime.CapSquash // which needs CapCommit
		}
		if err := cmp.Or(r.need(capability), checkRef(opts.Ref), checkEnv("Changes.Env", opts.Changes.Env)); err != nil {
			return out, err
		} else if ctx.Err() != nil {
			return out, errCtx(ctx, "commit")
		}
		ref := normalizeRef(opts.Ref)
		err = r.update(func(st *state) error {
			c, err := findContainer(st, id)
			if err != nil {
				return err
			}
			img := st.Images[c.ImageID]
			switch state, _ := r.effective(c); {
			case state == runtime.StateRunning:
				return fmt.Errorf("fake: container %s is running: %w", c.ID, runtime.ErrFailedPrecondition)
			case st.refs[ref] != "":
				return fmt.Errorf("fake: image reference %q is taken: %w", opts.Ref, runtime.ErrAlreadyExists)
			case img == nil:
				return fmt.Errorf("fake: image %s of container %s: %w", c.ImageID, c.ID, runtime.ErrNotFound)
			}
			n := st.next()
			diff, upper := c.Upper, &layer{Files: map[string]*file{}}
			if diff == "" { // its process died: its changes are lost
				diff = "sha256:" + newID("layer", n)
				err = r.putBlob(diff, upper)
			} else {
				upper, err = r.blob(diff)
			}
			if err != nil {
				return err
			}
			top := img.Top
			if opts.Squash {
				base, err := r.flat(st, img.Top)
				if err != nil {
					return err
				}
				m := maps.Clone(base)
				apply(m, upper)
				upper, diff, top = &layer{Files: m}, "sha256:"+newID("squash", n), ""
				if err := r.putBlob(diff, upper); err != nil {
					return err
				}
			}
			top = addLayer(st, top, diff, upper.size())
			rec := &imageRec{
				ID: "sha256:" + newID("image", n, c.ID, top), Top: top, Created: r.cfg.clock(), Seq: n,
				Config: commitConfig(img.Config, c.Spec, opts),
			}
			st.addImage(rec)
			st.setRef(ref, rec.ID)
			out = imageOf(st, rec)
			return nil
		})
		return out, err
	})
}

// commitConfig is the container's config without its secret environment,
// then opts.Labels and opts.Changes.
func commitConfig(img imageConfig, spec runtime.ContainerSpec, opts runtime.CommitOptions) imageConfig {
	env := slices.DeleteFunc(setEnv(img.Env, spec.Env...), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.ContainsFunc(spec.SecretEnv, func(s string) bool { return strings.HasPrefix(s, k+"=") })
	})
	cmd := opts.Changes.Cmd
	for _, c := range [][]string{spec.Cmd, img.Cmd} {
		if len(cmd) == 0 {
			cmd = c
		}
	}
	cfg := imageConfig{
		Env:        setEnv(env, opts.Changes.Env...),
		Cmd:        slices.Clone(cmd),
		WorkingDir: cmp.Or(opts.Changes.WorkingDir, spec.WorkingDir, img.WorkingDir),
		Labels:     maps.Clone(img.Labels),
	}
	if cfg.Labels == nil && len(opts.Labels) > 0 {
		cfg.Labels = map[string]string{}
	}
	maps.Copy(cfg.Labels, opts.Labels)
	return cfg
}
