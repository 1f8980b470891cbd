package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// WorkItem names a work item of a project (Fork).
type WorkItem struct {
	// Project is the project's ID ("": DefaultProject).
	Project string
	// WorkItem is the work item's ID. Required.
	WorkItem string
}

// Fork gives work item to the newest snapshot of work item from, so that
// the next job of to starts warm from from's state, as a job of from would.
// The snapshot's image is copied under to's own name and labels (its layers
// shared where the engine can), as to's next generation: to's previous
// snapshot, if any, is replaced and its image removed; from's is left as it
// was, and each goes on (commits, eviction) without the other. Fork waits
// for a running job of either work item (up to Config.WorkItemTimeout, then
// ErrWorkItemBusy). It returns to's new snapshot, an error wrapping
// ErrInvalidJob when to is from or a work item is missing, one wrapping
// runtime.ErrNotFound when from has no snapshot, and one wrapping
// errors.ErrUnsupported when the snapshot's runtime cannot copy images
// (runtime.CapCopy).
func (c *Core) Fork(ctx context.Context, from, to WorkItem) (Snapshot, error) {
	if err := c.enter(); err != nil {
		return Snapshot{}, err
	}
	defer c.inflight.Done()
	from.Project, to.Project = cmp.Or(from.Project, DefaultProject), cmp.Or(to.Project, DefaultProject)
	switch {
	case from.WorkItem == "" || to.WorkItem == "":
		return Snapshot{}, invalid("fork: the work items to fork from and to are both required")
	case from == to:
		return Snapshot{}, invalid("fork: project %q, work item %q is forked onto itself", from.Project, from.WorkItem)
	}
	unlock, err := c.lockBoth(ctx, from, to)
	if err != nil {
		return Snapshot{}, err
	}
	defer unlock()
	src, rt, err := c.forkSource(ctx, from)
	if err != nil {
		return Snapshot{}, err
	}
	info, err := c.info(ctx, src.Runtime, rt)
	if err != nil {
		return Snapshot{}, err
	}
	cp, ok := rt.(runtime.ImageCopier)
	if !ok || !info.Has(runtime.CapCopy) {
		return Snapshot{}, fmt.Errorf("fork: runtime %q cannot copy images (capability %q): %w",
			src.Runtime, runtime.CapCopy, errors.ErrUnsupported)
	}
	key := store.Key{Runtime: src.Runtime, Project: to.Project, WorkItem: to.WorkItem}
	e, err := c.st.Lookup(ctx, key)
	if err != nil {
		return Snapshot{}, err
	}
	img, ref, gen, err := c.copySnapshot(ctx, cp, rt, src, key, e)
	if err != nil {
		return Snapshot{}, err
	}
	now := c.now()
	snap := store.Snapshot{Key: key, Image: ref, ImageID: img.ID, BaseImage: src.BaseImage,
		BaseImageID: src.BaseImageID, Size: img.Size, Layers: cmp.Or(img.Layers, src.Layers),
		Generation: gen, Created: now, LastUsed: now}
	if stored, err := c.st.Adopt(ctx, snap); err != nil || !stored {
		c.removeForkRef(rt, ref, "undo fork")
		return Snapshot{}, cmp.Or(err, fmt.Errorf("fork: generation %d of project %q, work item %q was taken meanwhile: %w",
			gen, to.Project, to.WorkItem, runtime.ErrAlreadyExists))
	}
	if e.Found && e.Snapshot.ImageID != img.ID {
		c.removeForkRef(rt, e.Snapshot.Image, "remove the replaced generation")
	}
	out := c.publicSnapshot(snap)
	c.log.Info("forked snapshot", "runtime", src.Runtime, "from_project", from.Project, "from_work_item", from.WorkItem,
		"project", to.Project, "work_item", to.WorkItem, "image", ref, "source", src.Image)
	c.emit(EventSnapshotCommitted, nil, &out)
	return out, nil
}

// lockBoth takes the locks of both work items, in the order of their lock
// IDs so that two forks in opposite directions cannot deadlock.
func (c *Core) lockBoth(ctx context.Context, a, b WorkItem) (itemUnlock, error) {
	if lockID(a.Project, a.WorkItem) > lockID(b.Project, b.WorkItem) {
		a, b = b, a
	}
	first, err := c.locks.lock(ctx, a.Project, a.WorkItem, c.cfg.WorkItemTimeout)
	if err != nil {
		return nil, err
	}
	second, err := c.locks.lock(ctx, b.Project, b.WorkItem, c.cfg.WorkItemTimeout)
	if err != nil {
		first()
		return nil, err
	}
	return func() { second(); first() }, nil
}

// forkSource returns the newest snapshot of from (of any runtime) whose
// image is still there, with its runtime. A snapshot whose image is gone is
// dropped, as a job would drop it.
func (c *Core) forkSource(ctx context.Context, from WorkItem) (store.Snapshot, runtime.Runtime, error) {
	all, err := c.st.ListWorkItem(ctx, from.Project, from.WorkItem)
	if err != nil {
		return store.Snapshot{}, nil, err
	}
	var src *store.Snapshot
	for i := range all {
		if src == nil || all[i].Created.After(src.Created) {
			src = &all[i]
		}
	}
	missing := fmt.Errorf("no snapshot of project %q, work item %q: %w", from.Project, from.WorkItem, runtime.ErrNotFound)
	if src == nil {
		return store.Snapshot{}, nil, missing
	}
	rt, err := c.lookup(ctx, src.Runtime)
	if err != nil {
		return store.Snapshot{}, nil, err
	}
	img, err := rt.InspectImage(ctx, src.Image)
	switch {
	case err == nil && img.ID == src.ImageID:
		return *src, rt, nil
	case err != nil && !errors.Is(err, runtime.ErrNotFound):
		return store.Snapshot{}, nil, fmt.Errorf("snapshot image %q: %w", src.Image, err)
	}
	c.dropEntry(ctx, *src) // gone, or the reference names another image now
	return store.Snapshot{}, nil, missing
}

// copySnapshot copies src's image as key's next generation: past every
// generation key had, and past tags left by a crash (a tag is never moved).
func (c *Core) copySnapshot(ctx context.Context, cp runtime.ImageCopier, rt runtime.Runtime, src store.Snapshot,
	key store.Key, e store.Entry) (runtime.Image, string, int, error) {
	name := imageName(c.instance, key.Runtime, key.Project, key.WorkItem)
	gen := max(e.LastGeneration, e.DroppedThrough, e.Snapshot.Generation) + 1
	for skips := 0; ; skips, gen = skips+1, gen+1 {
		ref := imageRef(name, gen)
		_, err := rt.InspectImage(ctx, ref)
		switch {
		case err == nil:
		case !errors.Is(err, runtime.ErrNotFound):
			return runtime.Image{}, "", 0, fmt.Errorf("check tag %s: %w", ref, err)
		default:
			img, err := cp.CopyImage(ctx, src.Image, runtime.CopyOptions{Ref: ref, Labels: map[string]string{
				LabelManagedBy:  ManagedBy,
				LabelInstance:   c.instance,
				LabelRuntime:    key.Runtime,
				LabelProject:    key.Project,
				LabelWorkItem:   key.WorkItem,
				LabelGeneration: strconv.Itoa(gen),
			}})
			if err == nil {
				return img, ref, gen, nil
			}
			if !errors.Is(err, runtime.ErrAlreadyExists) {
				return runtime.Image{}, "", 0, fmt.Errorf("copy %s to %s: %w", src.Image, ref, err)
			}
		}
		if skips == maxGenerationSkips {
			return runtime.Image{}, "", 0, fmt.Errorf("no free generation tag for %s: %w", name, runtime.ErrAlreadyExists)
		}
	}
}

// removeForkRef removes the reference ref, left for the sweep when it
// cannot go now (an image in use, an engine that fails).
func (c *Core) removeForkRef(rt runtime.Runtime, ref, what string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := rt.RemoveImage(ctx, ref)
	switch {
	case err == nil, errors.Is(err, runtime.ErrNotFound):
	case errors.Is(err, runtime.ErrConflict):
		c.log.Info(what+": image in use, left for the sweep", "image", ref)
	default:
		c.log.Warn(what+" (left for the sweep)", "image", ref, "err", err)
	}
}
