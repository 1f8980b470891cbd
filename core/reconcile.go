package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// reconcile brings the state of one runtime in line with its engine. It
// first removes the containers of jobs whose owner is gone (so that the
// images they held can go in the same sweep), then drops the entries whose
// image is gone, and settles the images of berth's own naming that the
// store does not record: the newest generation of a work item is adopted
// when its labels are complete, the other references are removed. berth
// removes only references it made (see ownRefs), never an image's other
// references, and never an image the store records. Every destructive
// decision is taken under the work item's lock, from the state as it is
// then: the reads made before the lock only say where to look. A work item
// with a job running is left alone. In a dry run it only reports.
func (c *Core) reconcile(ctx context.Context, name string, rt runtime.Runtime, opts SweepOptions, rep *SweepReport) error {
	mine := runtime.LabelFilter{LabelManagedBy: ManagedBy, LabelInstance: c.instance, LabelRuntime: name}
	if err := c.reapContainers(ctx, name, rt, mine, opts, rep); err != nil {
		return err
	}
	known, err := c.st.ImageIDs(ctx, name)
	if err != nil {
		return err
	}
	images, err := rt.ListImages(ctx, mine)
	if err != nil {
		return fmt.Errorf("runtime %q: list images: %w", name, err)
	}
	present := make(map[string]bool, len(images))
	for _, img := range images {
		present[img.ID] = true
	}
	for id := range known {
		if !present[id] {
			if err := c.dropGone(ctx, name, rt, id, opts, rep); err != nil {
				return err
			}
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
	return nil
}

func generationOf(img runtime.Image) int {
	g, _ := strconv.Atoi(img.Labels[LabelGeneration])
	return g
}

// dropGone drops the entries on runtime name whose image id is gone, each
// under its work item's lock and after making sure the image is still gone.
func (c *Core) dropGone(ctx context.Context, name string, rt runtime.Runtime, id string, opts SweepOptions, rep *SweepReport) error {
	snaps, err := c.st.ByImageID(ctx, name, id)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		unlock, err := c.locks.tryLock(ctx, s.Project, s.WorkItem)
		if errors.Is(err, ErrWorkItemBusy) {
			rep.Skipped = append(rep.Skipped, s.Image)
			continue
		}
		if err != nil {
			return err
		}
		err = c.dropIfGone(ctx, name, rt, s, opts, rep)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// dropIfGone drops s if its image is still gone; the caller holds the work
// item's lock. A listing that misses images must not cost snapshots.
func (c *Core) dropIfGone(ctx context.Context, name string, rt runtime.Runtime, s store.Snapshot, opts SweepOptions, rep *SweepReport) error {
	_, err := rt.InspectImage(ctx, s.ImageID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("runtime %q: inspect image %s: %w", name, s.ImageID, err)
	}
	if !opts.DryRun {
		_, found, err := c.st.Remove(ctx, s.Key, s.ImageID)
		if err != nil || !found {
			return err
		}
		c.log.Info("dropped entry whose image is gone", "runtime", name, "image", s.Image)
	}
	rep.DroppedEntries = append(rep.DroppedEntries, c.publicSnapshot(s))
	return nil
}

// ownRefs returns the references of img that berth made: those in the
// repository of its work item's snapshots (see imageName), which only a
// berth with this instance's state can compute. An image derived from a
// snapshot by a user (tagged, built from it, committed from a container
// run from it) carries berth's labels but none of these references.
func (c *Core) ownRefs(name string, img runtime.Image) []string {
	project, item := img.Labels[LabelProject], img.Labels[LabelWorkItem]
	if project == "" || item == "" {
		return nil
	}
	repo := imageName(c.instance, name, project, item) + ":"
	var own []string
	for _, ref := range img.Refs {
		if strings.HasPrefix(ref, repo) {
			own = append(own, ref)
		}
	}
	return own
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

// settleImage adopts or removes an image of berth's naming that the store
// did not record when the sweep began. It decides under the work item's
// lock (a job of the work item may be committing this very image), from
// the store as it is then: an image the store records is kept.
func (c *Core) settleImage(ctx context.Context, name string, rt runtime.Runtime, img runtime.Image, opts SweepOptions, rep *SweepReport) error {
	own := c.ownRefs(name, img)
	if len(own) == 0 {
		return nil // not berth's to touch
	}
	unlock, err := c.locks.tryLock(ctx, img.Labels[LabelProject], img.Labels[LabelWorkItem])
	if errors.Is(err, ErrWorkItemBusy) {
		rep.Skipped = append(rep.Skipped, own[0])
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	recorded, err := c.st.ByImageID(ctx, name, img.ID)
	if err != nil || len(recorded) > 0 {
		return err
	}
	if snap, complete := c.snapshotOf(name, img); complete {
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
	return c.removeRefs(ctx, rt, img, own, opts, rep)
}

// removeRefs removes the references refs of img (berth's own), recording
// it in rep; when they are all of img's references (no reference of the
// user's keeps it), the image goes with them and its size is reclaimed. Removing references rather than the ID lets an
// engine that chains committed images (Docker, Podman) untag a generation
// that still parents the next one and delete it with its last child, and
// leaves an image a user also named to the user. An image in use is skipped
// for the next sweep.
func (c *Core) removeRefs(ctx context.Context, rt runtime.Runtime, img runtime.Image, refs []string, opts SweepOptions, rep *SweepReport) error {
	label := refs[0]
	var bytes int64
	if len(refs) >= len(img.Refs) {
		bytes = img.Size
	}
	if opts.DryRun {
		rep.RemovedImages = append(rep.RemovedImages, label)
		rep.BytesReclaimed += bytes
		return nil
	}
	for _, ref := range refs {
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
	rep.BytesReclaimed += bytes
	c.log.Info("removed image", "image", label, "bytes", bytes)
	return nil
}

// imageLabel names an image in reports: its first reference, else its ID.
func imageLabel(img runtime.Image) string {
	if len(img.Refs) > 0 {
		return img.Refs[0]
	}
	return img.ID
}

func (c *Core) publicSnapshot(s store.Snapshot) Snapshot {
	return Snapshot{Runtime: s.Runtime, Project: s.Project, WorkItem: s.WorkItem, Image: s.Image,
		ImageID: s.ImageID, BaseImage: s.BaseImage, Size: s.Size, Layers: s.Layers,
		Generation: s.Generation, Created: s.Created, LastUsed: s.LastUsed,
		Expires: c.expires(s.Project, s.Created)}
}
