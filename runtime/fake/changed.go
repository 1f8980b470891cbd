package fake

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ChangeChecker = (*Runtime)(nil)

// Changed reports whether the exited container id wrote, changed or
// removed anything (CapDiff): whether its layer of changes holds a file, a
// whiteout or an opaque directory. A container whose process died has lost
// its changes: unchanged.
func (r *Runtime) Changed(ctx context.Context, id string) (bool, error) {
	return call(ctx, r, OpChanged, func() (changed bool, err error) {
		if err := r.need(runtime.CapDiff); err != nil {
			return false, err
		} else if ctx.Err() != nil {
			return false, errCtx(ctx, "changed")
		}
		err = r.view(func(st *state) error {
			c, err := findContainer(st, id)
			if err != nil {
				return err
			}
			if state, _ := r.effective(c); state == runtime.StateRunning {
				return fmt.Errorf("fake: container %s is running: %w", c.ID, runtime.ErrFailedPrecondition)
			}
			if c.Upper == "" {
				return nil
			}
			upper, err := r.blob(c.Upper)
			if err != nil {
				return err
			}
			changed = len(upper.Files) > 0 || len(upper.Whiteouts) > 0 || len(upper.Opaque) > 0
			return nil
		})
		return changed, err
	})
}
