package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth-dev/berth/core/store"
	"github.com/berth-dev/berth/runtime"
)

// reapContainers removes the managed containers of this instance on
// runtime name whose job is not live (no job row, or its owner process is
// gone) once they are older than the orphan grace, and forgets the jobs of
// dead owners. A live job's container is never touched.
func (c *Core) reapContainers(ctx context.Context, name string, rt runtime.Runtime, mine runtime.LabelFilter, opts SweepOptions, rep *SweepReport) error {
	ctrs, err := rt.ListContainers(ctx, mine)
	if err != nil {
		return fmt.Errorf("runtime %q: list containers: %w", name, err)
	}
	// Read the jobs after listing: a job row is written before its
	// container is created, so every container listed has its row by now.
	jobs, err := c.st.Jobs(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]store.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	grace := opts.OrphanGrace
	if grace <= 0 {
		grace = c.cfg.OrphanGrace
	}
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	now := c.now()
	kept := map[string]bool{} // jobs whose container stays for now
	for _, ctr := range ctrs {
		jobID := ctr.Labels[LabelJob]
		j, ok := byID[jobID]
		if ok && j.Runtime == name && alive(j.PID, j.PIDStart) {
			kept[jobID] = true
			continue
		}
		if now.Sub(ctr.Created) < grace {
			kept[jobID] = true
			continue
		}
		if opts.DryRun {
			rep.RemovedContainers = append(rep.RemovedContainers, ctr.ID)
			continue
		}
		err := rt.Remove(ctx, ctr.ID)
		switch {
		case err == nil:
			rep.RemovedContainers = append(rep.RemovedContainers, ctr.ID)
			c.log.Info("removed orphan container", "runtime", name, "container", ctr.ID, "job", jobID)
		case errors.Is(err, runtime.ErrNotFound):
		case errors.Is(err, runtime.ErrConflict):
			kept[jobID] = true
			rep.Skipped = append(rep.Skipped, ctr.ID)
		default:
			return fmt.Errorf("remove orphan container %s: %w", ctr.ID, err)
		}
	}
	if opts.DryRun {
		return nil
	}
	for _, j := range jobs {
		if j.Runtime != name || kept[j.ID] || alive(j.PID, j.PIDStart) {
			continue
		}
		if err := c.st.DeleteJob(ctx, j.ID); err != nil {
			return err
		}
		c.log.Info("forgot job of a dead process", "job", j.ID, "pid", j.PID)
	}
	return nil
}
