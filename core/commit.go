package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// NoCommitReason says why a job's container was not committed
// (CommitResult.Reason). Its values are a contract: berth prints them and
// writes them in its JSON output.
type NoCommitReason string

// Why a job's container was not committed.
const (
	NoCommitNoWorkItem   NoCommitReason = "no-work-item"  // the job names no work item
	NoCommitDisabled     NoCommitReason = "disabled"      // snapshots are off for the job
	NoCommitCancelled    NoCommitReason = "cancelled"     // the job was cancelled
	NoCommitTimeout      NoCommitReason = "timeout"       // the job timed out
	NoCommitWaitError    NoCommitReason = "wait-error"    // its end could not be read
	NoCommitOOM          NoCommitReason = "oom-killed"    // it ran out of memory
	NoCommitExitCode     NoCommitReason = "exit-code"     // it exited non-zero
	NoCommitNotSupported NoCommitReason = "not-supported" // the runtime cannot commit
	NoCommitLayerLimit   NoCommitReason = "layer-limit"   // too deep, and no squash
	NoCommitSuperseded   NoCommitReason = "superseded"    // taken over after a restart, when another job of the work item had committed
	NoCommitUnchanged    NoCommitReason = "unchanged"     // its file system is its image's: the snapshot it ran from (if any) stays, noted as used
)

// commitBlocker returns why the container must not be committed, or "".
func (r *jobRun) commitBlocker(waitErr error) NoCommitReason {
	switch {
	case r.job.WorkItem == "":
		return NoCommitNoWorkItem
	case !r.sel.apply:
		return NoCommitDisabled
	case r.res.Cancelled:
		return NoCommitCancelled
	case r.res.TimedOut:
		return NoCommitTimeout
	case waitErr != nil:
		return NoCommitWaitError
	case r.res.OOMKilled:
		return NoCommitOOM
	case r.res.ExitCode != 0:
		return NoCommitExitCode
	case r.superseded:
		return NoCommitSuperseded
	case !r.sel.info.Has(runtime.CapCommit):
		return NoCommitNotSupported
	case r.sel.noRoom:
		return NoCommitLayerLimit
	}
	return ""
}

// unchanged reports whether the job's container changed nothing on its
// file system, so that committing it would only add an empty generation.
// A runtime that cannot tell (no CapDiff), or fails to, counts as changed.
func (r *jobRun) unchanged(ctx context.Context) bool {
	cc, ok := r.rt.(runtime.ChangeChecker)
	if !ok || !r.sel.info.Has(runtime.CapDiff) {
		return false
	}
	changed, err := cc.Changed(ctx, r.id)
	if err != nil {
		r.log.Warn("cannot tell whether the container changed: committing it", "container", r.id, "err", err)
		return false
	}
	return !changed
}

// maxGenerationSkips bounds the search for a free generation tag.
const maxGenerationSkips = 100

// commit commits the container as the work item's next generation and
// returns the snapshot to store, or nil (with the error in the result) if
// the commit failed. A failed commit never fails the job.
func (r *jobRun) commit(ctx context.Context) *store.Snapshot {
	res := &r.res.Commit
	fail := func(err error) *store.Snapshot {
		res.Error = err.Error()
		r.c.counters.add(MetricCommitFailures, 1)
		r.log.Warn("commit failed", "err", err)
		return nil
	}
	e := r.sel.entry
	gen := max(e.LastGeneration, e.DroppedThrough, e.Snapshot.Generation, r.sel.shared.Generation) + 1
	name := imageName(r.c.instance, r.job.Runtime, r.job.Project, r.job.WorkItem)
	ref := ""
	for skips := 0; ; skips++ {
		ref = imageRef(name, gen)
		_, err := r.rt.InspectImage(ctx, ref)
		if errors.Is(err, runtime.ErrNotFound) {
			break
		}
		if err != nil {
			return fail(fmt.Errorf("check tag %s: %w", ref, err))
		}
		if skips == maxGenerationSkips {
			return fail(fmt.Errorf("no free generation tag for %s: %w", name, runtime.ErrAlreadyExists))
		}
		gen++ // left by a crashed run: never move a tag
	}
	labels := r.labels()
	labels[LabelGeneration] = strconv.Itoa(gen)
	img, err := r.rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: ref, Labels: labels, Squash: r.sel.squash})
	if err != nil {
		return fail(fmt.Errorf("commit %s: %w", ref, err))
	}
	layers := img.Layers
	if layers <= 0 {
		layers = r.sel.parent + 1
		if r.sel.squash {
			layers = 1
		}
	}
	*res = CommitResult{Committed: true, Image: ref, ImageID: img.ID, Generation: gen,
		Layers: layers, Size: img.Size, Squashed: r.sel.squash}
	if e.Found && e.Snapshot.ImageID != img.ID {
		old := e.Snapshot
		r.old = &old
	}
	now := r.c.now()
	snap := &store.Snapshot{Key: r.sel.key, Image: ref, ImageID: img.ID, BaseImage: r.job.Image,
		BaseImageID: r.sel.base.ID, Size: img.Size, Layers: layers, Generation: gen, Created: now, LastUsed: now}
	if r.sel.hit {
		// Until pushed, it descends from what its parent is or descends from.
		snap.SharedBase = e.Snapshot.SharedBase
	}
	return snap
}

// removeOld removes the image of the generation a commit replaced (by
// reference: see Core.removeRefs). An image still in use is left for the
// sweep, which removes berth's references that the state does not record.
func (r *jobRun) removeOld(ctx context.Context) {
	if r.old == nil || !r.res.Commit.Committed {
		return
	}
	r.c.removeImageRef(ctx, r.rt, r.old.Image)
}
