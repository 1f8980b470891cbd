package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// reapContainers removes the containers berth made on runtime name (named
// after a job it recorded, labelled for this instance) whose owner is gone:
// at once when the job's end is recorded or its deadline plus the stop
// grace has passed, else once older than the orphan grace. It forgets the
// jobs of dead owners. A live job's container is never touched, and a
// container berth did not make (a user's container run from a snapshot
// carries berth's labels too) is never even considered.
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
		if j.Runtime == name {
			byID[j.ID] = j
		}
	}
	seen := map[string]bool{} // jobs whose container was listed
	for _, ctr := range ctrs {
		jobID := ctr.Labels[LabelJob]
		j, ok := byID[jobID]
		if !ok || strings.TrimPrefix(ctr.Name, "/") != containerName(jobID) {
			continue // not a container berth made for a job it recorded
		}
		seen[jobID] = true
		if err := c.reapOne(ctx, rt, j, ctr, opts, rep); err != nil {
			return err
		}
	}
	if opts.DryRun {
		return nil
	}
	for _, j := range byID {
		if seen[j.ID] {
			continue
		}
		v := c.owners.judge(j)
		if v.alive {
			continue
		}
		err := c.st.DeleteJob(ctx, j.ID)
		v.release(err == nil)
		if err != nil {
			return err
		}
		c.log.Info("forgot job of a dead process", "job", j.ID, "pid", j.PID)
	}
	return nil
}

// reapOne removes ctr, the container of job j, if j's owner is gone and
// the container is due.
func (c *Core) reapOne(ctx context.Context, rt runtime.Runtime, j store.Job, ctr runtime.Container, opts SweepOptions, rep *SweepReport) error {
	v := c.owners.judge(j)
	if v.alive {
		return nil
	}
	forget := false
	defer func() { v.release(forget) }()
	now := c.now()
	overdue := !j.Deadline.IsZero() && now.After(j.Deadline.Add(c.stopGrace()))
	grace := c.orphanGrace(opts)
	if j.Durable {
		// A submitted job's restarted owner takes it over (Recover).
		grace = max(grace, c.reattachGrace())
	}
	if !j.Ended && !overdue && now.Sub(ctr.Created) < grace {
		return nil
	}
	if opts.DryRun {
		rep.RemovedContainers = append(rep.RemovedContainers, ctr.ID)
		return nil
	}
	// Remove kills a container that still runs: a job past its deadline
	// whose owner died is stopped here.
	err := rt.Remove(ctx, ctr.ID)
	switch {
	case err == nil:
		rep.RemovedContainers = append(rep.RemovedContainers, ctr.ID)
		c.log.Info("removed orphan container", "runtime", j.Runtime, "container", ctr.ID, "job", j.ID,
			"overdue", overdue, "ended", j.Ended)
	case errors.Is(err, runtime.ErrNotFound):
	case errors.Is(err, runtime.ErrConflict):
		rep.Skipped = append(rep.Skipped, ctr.ID)
		return nil
	default:
		return fmt.Errorf("remove orphan container %s: %w", ctr.ID, err)
	}
	if err := c.st.DeleteJob(ctx, j.ID); err != nil {
		return err
	}
	forget = true
	return nil
}

func (c *Core) orphanGrace(opts SweepOptions) time.Duration {
	switch {
	case opts.OrphanGrace > 0:
		return opts.OrphanGrace
	case c.cfg.OrphanGrace > 0:
		return c.cfg.OrphanGrace
	}
	return DefaultOrphanGrace
}

// DefaultReattachGrace is how long a sweep leaves the container of a
// submitted job whose owner died for a restarted owner to take over.
const DefaultReattachGrace = 24 * time.Hour

func (c *Core) reattachGrace() time.Duration {
	if c.cfg.ReattachGrace > 0 {
		return c.cfg.ReattachGrace
	}
	return DefaultReattachGrace
}

func (c *Core) stopGrace() time.Duration {
	if c.cfg.StopGrace > 0 {
		return c.cfg.StopGrace
	}
	return DefaultStopGrace
}
