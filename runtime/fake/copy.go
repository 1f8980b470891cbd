package fake

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ImageCopier = (*Runtime)(nil)

// CopyImage makes an image of src's layers and config with reference
// opts.Ref and opts.Labels added to src's labels (CapCopy).
func (r *Runtime) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	return call(ctx, r, OpCopyImage, func() (out runtime.Image, err error) {
		if err := cmp.Or(r.need(runtime.CapCopy), checkRef(opts.Ref)); err != nil {
			return out, err
		} else if ctx.Err() != nil {
			return out, errCtx(ctx, "copy image")
		}
		ref := normalizeRef(opts.Ref)
		err = r.update(func(st *state) error {
			img, err := findImage(st, src)
			if err != nil {
				return err
			}
			if st.refs[ref] != "" {
				return fmt.Errorf("fake: image reference %q is taken: %w", opts.Ref, runtime.ErrAlreadyExists)
			}
			cfg := img.Config
			cfg.Env, cfg.Cmd, cfg.Entrypoint = slices.Clone(cfg.Env), slices.Clone(cfg.Cmd), slices.Clone(cfg.Entrypoint)
			cfg.Labels = maps.Clone(cfg.Labels)
			if cfg.Labels == nil && len(opts.Labels) > 0 {
				cfg.Labels = map[string]string{}
			}
			maps.Copy(cfg.Labels, opts.Labels)
			n := st.next()
			rec := &imageRec{ID: "sha256:" + newID("image", n, img.ID, ref), Top: img.Top, Created: r.cfg.clock(), Seq: n, Config: cfg}
			st.addImage(rec)
			st.setRef(ref, rec.ID)
			out = imageOf(st, rec)
			return nil
		})
		return out, err
	})
}
