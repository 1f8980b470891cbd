package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/berth-dev/berth/core/store"
	"github.com/berth-dev/berth/runtime"
)

// reconcile brings the state of one runtime in line with its engine:
// entries whose image is gone are dropped; managed images of this instance
// the store does not know are adopted when their labels are complete and
// they are the newest generation of their work item, else removed (this
// also removes dangling generations); managed containers of this instance
// whose job is not live are removed once older than the orphan grace. A
// work item with a job running is left alone. In a dry run it only reports.
func (c *Core) reconcile(ctx context.Context, name string, rt runtime.Runtime, opts SweepOptions, rep *SweepReport) error {
	// Read the entries before listing the images: an entry stored later
	// has an image committed later, which the list may miss.
	known, err := c.st.ImageIDs(ctx, name)
	if err != nil {
		return err
	}
	mine := runtime.LabelFilter{LabelManagedBy: ManagedBy, LabelInstance: c.instance, LabelRuntime: name}
	images, err := rt.ListImages(ctx, mine)
	if err != nil {
		return fmt.Errorf("runtime %q: list images: %w", name, err)
	}
	present := make(map[string]bool, len(images))
	for _, img := range images {
		present[img.ID] = true
	}
	for id := range known {
		if present[id] {
			continue
		}
		// Make sure: a listing that misses images must not cost snapshots.
		_, err := rt.InspectImage(ctx, id)
		if err == nil {
			continue
		}
		if !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("runtime %q: inspect image %s: %w", name, id, err)
		}
		if err := c.dropGone(ctx, name, id, opts, rep); err != nil {
			return err
		}
	}

	// Unknown images, newest generation first so that it is the one adopted.
	var unknown []runtime.Image
	for _, img := range images {
		if !known[img.ID] {
			unknown = append(unknown, img)
		}
	}
	slices.SortFunc(unknown, func(a, b runtime.Image) int {
		return cmp.Compare(generationOf(b), generationOf(a))
	})
	for _, img := range unknown {
		if err := c.settleImage(ctx, name, rt, img, opts, rep); err != nil {
			return err
		}
	}
	return c.reapContainers(ctx, name, rt, mine, opts, rep)
}

func generationOf(img runtime.Image) int {
	g, _ := strconv.Atoi(img.Labels[LabelGeneration])
	return g
}

// dropGone drops the entries on runtime name whose image id is gone.
func (c *Core) dropGone(ctx context.Context, name, id string, opts SweepOptions, rep *SweepReport) error {
	snaps, err := c.st.ByImageID(ctx, name, id)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if !opts.DryRun {
			_, found, err := c.st.Remove(ctx, s.Key, s.ImageID)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			c.log.Info("dropped entry whose image is gone", "runtime", name, "image", s.Image)
		}
		rep.DroppedEntries = append(rep.DroppedEntries, publicSnapshot(s))
	}
	return nil
}

// snapshotOf rebuilds a snapshot from a managed image's labels; ok is
// false when they are incomplete.
func (c *Core) snapshotOf(name string, img runtime.Image) (store.Snapshot, bool) {
	l := img.Labels
	gen, err := strconv.Atoi(l[LabelGeneration])
	if err != nil || gen <= 0 || l[LabelProject] == "" || l[LabelWorkItem] == "" ||
		l[LabelBaseImage] == "" || l[LabelJob] == "" {
		return store.Snapshot{}, false
	}
	key := store.Key{Runtime: name, Project: l[LabelProject], WorkItem: l[LabelWorkItem]}
	ref := imageRef(imageName(c.instance, name, key.Project, key.WorkItem), gen)
	if !slices.Contains(img.Refs, ref) {
		return store.Snapshot{}, false
	}
	created := img.Created
	if created.IsZero() {
		created = c.now()
	}
	return store.Snapshot{Key: key, Image: ref, ImageID: img.ID, BaseImage: l[LabelBaseImage],
		BaseImageID: l[LabelBaseID], Size: img.Size, Layers: max(img.Layers, 1), Generation: gen,
		Created: created, LastUsed: created}, true
}

// settleImage adopts or removes a managed image the store does not know.
func (c *Core) settleImage(ctx context.Context, name string, rt runtime.Runtime, img runtime.Image, opts SweepOptions, rep *SweepReport) error {
	snap, complete := c.snapshotOf(name, img)
	if complete {
		// A job of the work item may be committing this very image.
		unlock, err := c.locks.lock(ctx, snap.Project, snap.WorkItem, 0, false)
		if errors.Is(err, ErrWorkItemBusy) {
			rep.Skipped = append(rep.Skipped, imageLabel(img))
			return nil
		}
		if err != nil {
			return err
		}
		defer unlock()
		adopt := false
		if opts.DryRun {
			e, err := c.st.Lookup(ctx, snap.Key)
			if err != nil {
				return err
			}
			adopt = snap.Generation > max(e.Snapshot.Generation, e.DroppedThrough)
		} else if adopt, err = c.st.Adopt(ctx, snap); err != nil {
			return err
		}
		if adopt {
			rep.AdoptedImages = append(rep.AdoptedImages, snap.Image)
			c.log.Info("adopted snapshot image", "runtime", name, "image", snap.Image)
			return nil
		}
	}
	return c.removeImage(ctx, rt, img, opts, rep)
}

// removeImage removes an image berth no longer wants, by its references
// (by its ID when it has none), recording it in rep. Removing references
// rather than the ID lets an engine that chains committed images (Docker,
// Podman) untag a generation that still parents the next one and delete it
// with its last child. An image in use is skipped for the next sweep.
func (c *Core) removeImage(ctx context.Context, rt runtime.Runtime, img runtime.Image, opts SweepOptions, rep *SweepReport) error {
	label := imageLabel(img)
	if opts.DryRun {
		rep.RemovedImages = append(rep.RemovedImages, label)
		rep.BytesReclaimed += img.Size
		return nil
	}
	targets := img.Refs
	if len(targets) == 0 {
		targets = []string{img.ID}
	}
	for _, ref := range targets {
		err := rt.RemoveImage(ctx, ref)
		switch {
		case err == nil, errors.Is(err, runtime.ErrNotFound):
		case errors.Is(err, runtime.ErrConflict):
			rep.Skipped = append(rep.Skipped, label)
			c.log.Info("image in use: left for the next sweep", "image", label)
			return nil
		default:
			return fmt.Errorf("remove image %s: %w", label, err)
		}
	}
	rep.RemovedImages = append(rep.RemovedImages, label)
	rep.BytesReclaimed += img.Size
	c.log.Info("removed image", "image", label, "bytes", img.Size)
	return nil
}

// imageLabel names an image in reports: its first reference, else its ID.
func imageLabel(img runtime.Image) string {
	if len(img.Refs) > 0 {
		return img.Refs[0]
	}
	return img.ID
}

func publicSnapshot(s store.Snapshot) Snapshot {
	return Snapshot{Runtime: s.Runtime, Project: s.Project, WorkItem: s.WorkItem, Image: s.Image,
		ImageID: s.ImageID, BaseImage: s.BaseImage, Size: s.Size, Layers: s.Layers,
		Generation: s.Generation, Created: s.Created, LastUsed: s.LastUsed}
}
