package core

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// Sweep reconciles every runtime with the state, then evicts snapshots:
// those older than their project's TTL, then the least recently used ones
// while the global count or total size is over its cap. It removes the
// containers of jobs whose owner is gone and berth's references the state
// does not record (see reconcile). Images in use are
// skipped (Skipped) and retried next sweep. With opts.DryRun it reports
// what it would remove and removes nothing. A runtime that cannot be
// reached is reported in the error; the others are still swept.
func (c *Core) Sweep(ctx context.Context, opts SweepOptions) (SweepReport, error) {
	if err := c.enter(); err != nil {
		return SweepReport{}, err
	}
	defer c.inflight.Done()
	return c.sweep(ctx, opts, SweepOnRequest)
}

// sweep sweeps, then reports the run (EventGCDone).
func (c *Core) sweep(ctx context.Context, opts SweepOptions, trigger SweepTrigger) (SweepReport, error) {
	started := c.now()
	rep, err := c.sweepAll(ctx, opts)
	if c.cfg.OnEvent != nil {
		run := SweepRun{Started: started, Ended: c.now(), Trigger: trigger, Report: rep}
		if err != nil {
			run.Error = err.Error()
		}
		c.cfg.OnEvent(Event{Type: EventGCDone, Time: run.Ended, GC: &run})
	}
	return rep, err
}

func (c *Core) sweepAll(ctx context.Context, opts SweepOptions) (SweepReport, error) {
	rep := SweepReport{DryRun: opts.DryRun}
	var errs []error
	for _, name := range c.cfg.Runtimes.Names() {
		rt, err := c.cfg.Runtimes.Runtime(ctx, name)
		if err == nil {
			err = c.reconcile(ctx, name, rt, opts, &rep)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile runtime %q: %w", name, err))
		}
	}
	if err := c.evict(ctx, opts, &rep); err != nil {
		errs = append(errs, err)
	}
	if !opts.DryRun {
		c.locks.prune()
		c.slots.prune()
	}
	c.count(&rep)
	c.log.Info("sweep done", "dry_run", opts.DryRun, "evicted", len(rep.Evicted), "dropped", len(rep.DroppedEntries),
		"adopted", len(rep.AdoptedImages), "removed_images", len(rep.RemovedImages),
		"removed_containers", len(rep.RemovedContainers), "skipped", len(rep.Skipped), "bytes", rep.BytesReclaimed)
	return rep, errors.Join(errs...)
}

// evict removes the snapshots over their project's TTL, then the least
// recently used while over the global count or size. Only the victims are
// read from the store.
func (c *Core) evict(ctx context.Context, opts SweepOptions, rep *SweepReport) error {
	now := c.now()
	if err := c.evictShared(ctx, opts, rep); err != nil {
		return err
	}
	gone := map[store.Key]bool{} // evicted by this sweep (still stored in a dry run)
	var goneBytes int64
	evict := func(victims []store.Snapshot, err error) error {
		if err != nil {
			return err
		}
		for _, s := range victims {
			if gone[s.Key] {
				continue
			}
			ok, err := c.evictOne(ctx, s, opts, rep)
			if err != nil {
				return err
			}
			if ok {
				gone[s.Key] = true
				goneBytes += s.Size
			}
		}
		return nil
	}
	// TTL: the projects with their own, then every other under the global.
	var own []string
	for p, pp := range c.cfg.Projects {
		if pp.TTL != nil {
			own = append(own, p)
		}
	}
	slices.Sort(own)
	for _, p := range own {
		if ttl := *c.cfg.Projects[p].TTL; ttl > 0 {
			if err := evict(c.st.CreatedBefore(ctx, now.Add(-ttl), p)); err != nil {
				return err
			}
		}
	}
	if ttl := c.cfg.Policy.TTL; ttl > 0 {
		if err := evict(c.st.OthersCreatedBefore(ctx, now.Add(-ttl), own)); err != nil {
			return err
		}
	}

	maxCount, maxBytes := c.cfg.Policy.MaxCount, c.cfg.Policy.MaxBytes
	if maxCount == 0 && maxBytes == 0 {
		return nil
	}
	count, total, err := c.st.Totals(ctx)
	if err != nil {
		return err
	}
	if opts.DryRun {
		count, total = count-len(gone), total-goneBytes
	}
	over := func() bool { return (maxCount > 0 && count > maxCount) || (maxBytes > 0 && total > maxBytes) }
	if !over() {
		return nil
	}
	return c.st.Oldest(ctx, func(s store.Snapshot) (bool, error) {
		if gone[s.Key] {
			return true, nil
		}
		if !over() {
			return false, nil
		}
		ok, err := c.evictOne(ctx, s, opts, rep)
		if ok {
			gone[s.Key] = true
			count, total = count-1, total-s.Size
		}
		return true, err
	})
}

// evictOne removes snapshot s, entry and image, unless a job of its work
// item is running. It reports whether the entry was removed.
func (c *Core) evictOne(ctx context.Context, s store.Snapshot, opts SweepOptions, rep *SweepReport) (bool, error) {
	unlock, err := c.locks.tryLock(ctx, s.Project, s.WorkItem)
	if errors.Is(err, ErrWorkItemBusy) {
		rep.Skipped = append(rep.Skipped, s.Image)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer unlock()
	// The victim was chosen from a read made before the lock: a job of
	// the work item may have used it or replaced it since.
	e, err := c.st.Lookup(ctx, s.Key)
	if err != nil {
		return false, err
	}
	if !e.Found || e.Snapshot.ImageID != s.ImageID || e.Snapshot.LastUsed.After(s.LastUsed) {
		return false, nil
	}
	if !opts.DryRun {
		_, found, err := c.st.Remove(ctx, s.Key, s.ImageID)
		if err != nil || !found {
			return false, err
		}
	}
	rep.Evicted = append(rep.Evicted, c.publicSnapshot(s))
	c.log.Info("evicted snapshot", "runtime", s.Runtime, "project", s.Project, "work_item", s.WorkItem,
		"image", s.Image, "dry_run", opts.DryRun)
	return true, c.removeSnapshotImage(ctx, s, opts, rep)
}

// removeSnapshotImage removes berth's reference to the image of a
// forgotten snapshot (the image goes with it unless a user named it too);
// an image in use or a runtime that is gone leaves it for a later sweep.
func (c *Core) removeSnapshotImage(ctx context.Context, s store.Snapshot, opts SweepOptions, rep *SweepReport) error {
	rt, err := c.cfg.Runtimes.Runtime(ctx, s.Runtime)
	if err != nil {
		rep.Skipped = append(rep.Skipped, s.Image)
		c.log.Warn("cannot remove image: runtime unavailable", "runtime", s.Runtime, "image", s.Image, "err", err)
		return nil
	}
	img, err := rt.InspectImage(ctx, s.Image)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return nil
	case errors.Is(err, runtime.ErrUnavailable):
		rep.Skipped = append(rep.Skipped, s.Image)
		return nil
	case err != nil:
		return fmt.Errorf("inspect image %s: %w", s.Image, err)
	case img.ID != s.ImageID:
		return nil // the reference names another image now: not this snapshot's
	}
	err = c.removeRefs(ctx, rt, img, []string{s.Image}, opts, rep)
	if err != nil && errors.Is(err, runtime.ErrUnavailable) {
		rep.Skipped = append(rep.Skipped, s.Image)
		return nil
	}
	return err
}

// Snapshots lists the stored snapshots of project ("" = every project),
// least recently used first.
func (c *Core) Snapshots(ctx context.Context, project string) ([]Snapshot, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.inflight.Done()
	all, err := c.st.List(ctx, project)
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, len(all))
	for i, s := range all {
		out[i] = c.publicSnapshot(s)
	}
	return out, nil
}

// Invalidate forgets the snapshots of (project, workItem) on every runtime
// and removes their images ("" project = the default project), and the
// work item's shared snapshot (Config.Registry) with its manifest in the
// registry. It waits
// for a running job of the work item (up to Config.WorkItemTimeout, then
// ErrWorkItemBusy). It returns an error wrapping runtime.ErrNotFound when
// there is no snapshot. An image still in use is removed by a later sweep.
func (c *Core) Invalidate(ctx context.Context, project, workItem string) ([]Snapshot, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.inflight.Done()
	if project == "" {
		project = DefaultProject
	}
	unlock, err := c.lockItem(ctx, project, workItem, c.cfg.WorkItemTimeout)
	if err != nil {
		return nil, err
	}
	defer unlock()
	shared, err := c.forgetShared(ctx, project, workItem)
	if err != nil {
		return nil, err
	}
	all, err := c.st.ListWorkItem(ctx, project, workItem)
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	var rep SweepReport
	for _, s := range all {
		if _, found, err := c.st.Remove(ctx, s.Key, ""); err != nil {
			return out, err
		} else if !found {
			continue
		}
		out = append(out, c.publicSnapshot(s))
		c.emit(EventSnapshotEvicted, nil, &out[len(out)-1])
		if err := c.removeSnapshotImage(ctx, s, SweepOptions{}, &rep); err != nil {
			c.log.Warn("remove invalidated image (left for the sweep)", "image", s.Image, "err", err)
		}
	}
	c.counters.add(MetricBytesReclaimed, float64(rep.BytesReclaimed))
	if len(out) == 0 && !shared {
		return nil, fmt.Errorf("no snapshot of project %q, work item %q: %w", project, workItem, runtime.ErrNotFound)
	}
	c.log.Info("invalidated snapshots", "project", project, "work_item", workItem, "count", len(out))
	return out, nil
}
