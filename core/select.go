package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// SnapshotReason says why a job runs on its work item's snapshot or on the
// base image (Result.Reason). Its values are a contract: berth prints them
// and writes them in its JSON output.
type SnapshotReason string

// The reasons a job runs on its snapshot or on the base image.
const (
	ReasonHit         SnapshotReason = "hit"          // the snapshot is used
	ReasonDisabled    SnapshotReason = "disabled"     // snapshots are off for the job
	ReasonNoWorkItem  SnapshotReason = "no-work-item" // the job names no work item
	ReasonNone        SnapshotReason = "none"         // the work item has no snapshot
	ReasonExpired     SnapshotReason = "expired"      // older than the TTL
	ReasonBaseChanged SnapshotReason = "base-changed" // made from another base image
	ReasonImageGone   SnapshotReason = "image-gone"   // its image is gone (the entry is dropped)
	ReasonLayerLimit  SnapshotReason = "layer-limit"  // too deep to commit on, and no squash
	ReasonPullFailed  SnapshotReason = "pull-failed"  // the work item's newer snapshot, shared by another host, could not be pulled
)

// selection is the image a job runs from and what to do after it.
type selection struct {
	image  string // what to run
	hit    bool
	reason SnapshotReason
	apply  bool          // snapshots apply (enabled, work item given)
	key    store.Key     // valid when apply
	entry  store.Entry   // the key's stored state
	base   runtime.Image // the base image
	parent int           // layers of the image run
	squash bool          // the next commit must squash
	noRoom bool          // the next commit would pass the layer limit and cannot squash
	info   runtime.Info  // the runtime's info (capabilities)

	// Shared through a registry (Config.Registry).
	shared     store.Shared // the work item's shared snapshot, if any
	pulled     bool         // it was pulled for this job, and is entry now
	pullFailed bool         // it was newer than this host's, and its pull failed
}

// selectImage picks the image job runs from: its work item's snapshot when
// it is usable, else the base image. gone, when not "", is the ID of a
// snapshot image the engine could not find to run: that snapshot is not
// usable, as if its image were found gone here. It fails only when the base
// image is missing (an error wrapping runtime.ErrNotFound) or the engine or
// the state cannot be read. A job that snapshots do not apply to runs its
// base image as given: the engine's run reports it missing.
func (c *Core) selectImage(ctx context.Context, rt runtime.Runtime, job Job, gone string) (selection, error) {
	sel := selection{image: job.Image}
	switch {
	case job.WorkItem == "":
		sel.reason = ReasonNoWorkItem
		return sel, nil
	case !c.enabled(job):
		sel.reason = ReasonDisabled
		return sel, nil
	}
	var err error
	if sel.base, err = rt.InspectImage(ctx, job.Image); err != nil {
		return sel, fmt.Errorf("base image %q: %w", job.Image, err)
	}
	sel.parent = sel.base.Layers
	sel.apply = true
	sel.key = store.Key{Runtime: job.Runtime, Project: job.Project, WorkItem: job.WorkItem}
	if sel.info, err = c.info(ctx, job.Runtime, rt); err != nil {
		return sel, err
	}
	if sel.entry, err = c.st.Lookup(ctx, sel.key); err != nil {
		return sel, err
	}
	if gone == "" {
		if err := c.pullShared(ctx, rt, job, &sel); err != nil {
			return sel, err
		}
	}
	if sel.reason, err = c.usable(ctx, rt, job, &sel, gone); err != nil {
		return sel, err
	}
	if sel.pullFailed {
		// Never an older snapshot: its commit would drop the newer one's work.
		sel.reason = ReasonPullFailed
	}
	if sel.reason == ReasonHit {
		sel.hit, sel.image, sel.parent = true, sel.entry.Snapshot.Image, sel.entry.Snapshot.Layers
	}
	limit := c.layerLimit()
	if sel.parent+1 > limit {
		sel.squash = sel.info.Has(runtime.CapSquash)
		sel.noRoom = !sel.squash
	}
	return sel, nil
}

// usable says whether the stored snapshot of sel.key can be used:
// ReasonHit, or the reason why not. A snapshot whose image is gone (or is
// the image gone) is dropped.
func (c *Core) usable(ctx context.Context, rt runtime.Runtime, job Job, sel *selection, gone string) (SnapshotReason, error) {
	if !sel.entry.Found {
		return ReasonNone, nil
	}
	snap := sel.entry.Snapshot
	if ttl := c.ttl(job.Project); ttl > 0 && c.now().Sub(snap.Created) >= ttl {
		return ReasonExpired, nil
	}
	if snap.BaseImage != job.Image || (snap.BaseImageID != "" && snap.BaseImageID != sel.base.ID) {
		return ReasonBaseChanged, nil
	}
	if snap.Layers+1 > c.layerLimit() && !sel.info.Has(runtime.CapSquash) {
		return ReasonLayerLimit, nil
	}
	if snap.ImageID != gone {
		img, err := rt.InspectImage(ctx, snap.Image)
		if err == nil && img.ID == snap.ImageID {
			return ReasonHit, nil
		}
		if err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return "", fmt.Errorf("snapshot image %q: %w", snap.Image, err)
		}
	}
	// Gone, or the reference now names another image.
	c.dropEntry(ctx, snap)
	return ReasonImageGone, nil
}

// dropEntry forgets snap, whose image is gone.
func (c *Core) dropEntry(ctx context.Context, snap store.Snapshot) {
	if _, _, err := c.st.Remove(ctx, snap.Key, snap.ImageID); err != nil {
		c.log.Warn("drop snapshot entry", "image", snap.Image, "err", err)
		return
	}
	c.log.Info("dropped snapshot whose image is gone", "runtime", snap.Runtime, "project", snap.Project,
		"work_item", snap.WorkItem, "image", snap.Image)
}
