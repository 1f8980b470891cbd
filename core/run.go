package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
)

// Run runs job to its end and returns what happened. The error is non-nil
// only when berth could not do its part: an invalid job (ErrInvalidJob),
// an unknown runtime (ErrUnknownRuntime), no job slot in time
// (ErrQueueTimeout), the work item still busy (ErrWorkItemBusy), the engine
// down (runtime.ErrUnavailable), the base image missing (runtime.ErrNotFound)
// or a failed wait. A job that times out returns Result.TimedOut and a nil
// error; when ctx is cancelled the job is stopped and Run returns
// Result.Cancelled with an error wrapping ctx.Err(). Whatever happens, the
// container is removed before Run returns.
func (c *Core) Run(ctx context.Context, job Job) (res Result, err error) {
	began := time.Now()
	res = Result{Runtime: job.Runtime, Project: job.Project, WorkItem: job.WorkItem}
	if err := c.enter(); err != nil {
		return res, err
	}
	defer c.inflight.Done()
	job, err = c.normalize(job)
	res.Runtime, res.Project = job.Runtime, job.Project
	if err != nil {
		return res, err
	}
	res.JobID = newJobID()
	log := c.log.With("job", res.JobID, "runtime", job.Runtime, "project", job.Project, "work_item", job.WorkItem)
	defer func() { res.Durations.Total = time.Since(began) }()

	// The runtime is looked up (its driver may be launching) while the job
	// waits for its work item and a slot and is recorded. If the lookup
	// fails, the waits end at once with its error.
	prep, failPrep := context.WithCancelCause(ctx)
	defer failPrep(nil)
	l := c.launch(ctx, job.Runtime, failPrep)
	prepErr := func(err error) error {
		if ctx.Err() == nil && prep.Err() != nil {
			return context.Cause(prep)
		}
		return err
	}
	r := &jobRun{c: c, job: job, res: &res, log: log}
	snapshots := job.WorkItem != "" && c.enabled(job)
	if snapshots {
		// The snapshot to use may be one the reconcile adopts, which it
		// does only for work items no job holds.
		if r.rt, err = l.wait(prep); err != nil {
			return c.fail(ctx, res, prepErr(err))
		}
		c.reconcileOnce(ctx, job.Runtime, r.rt)
	}
	if job.WorkItem != "" {
		unlock, err := c.locks.lock(prep, job.Project, job.WorkItem, c.cfg.WorkItemTimeout, true)
		if err != nil {
			return c.fail(ctx, res, prepErr(err))
		}
		defer unlock()
	}
	releaseSlot, err := c.slots.acquire(prep, c.cfg.QueueTimeout)
	if err != nil {
		return c.fail(ctx, res, prepErr(err))
	}
	defer releaseSlot()
	res.Durations.Queue = time.Since(began)
	if err := r.record(ctx); err != nil {
		return c.fail(ctx, res, err)
	}
	defer r.forget(ctx)
	if !snapshots {
		if r.rt, err = l.wait(prep); err != nil {
			return c.fail(ctx, res, prepErr(err))
		}
		// Snapshots do not apply: the job does not wait for the reconcile,
		// which never touches a live job's container. It starts now, not
		// once the container runs: an engine may hold its listings until a
		// container's start is done.
		reconciled := make(chan struct{})
		go func() {
			defer close(reconciled)
			c.reconcileOnce(ctx, job.Runtime, r.rt)
		}()
		defer func() { <-reconciled }()
	}

	t := time.Now()
	sel, err := c.selectImage(ctx, r.rt, job)
	res.Durations.Select = time.Since(t)
	if err != nil {
		return c.fail(ctx, res, err)
	}
	res.Image, res.Hit, res.Reason = sel.image, sel.hit, sel.reason
	log.Info("job starting", "image", sel.image, "hit", sel.hit, "reason", sel.reason)
	c.counters.add(MetricJobs, 1)
	r.sel = sel
	err = r.run(ctx)
	log.Info("job ended", "exit_code", res.ExitCode, "timed_out", res.TimedOut, "cancelled", res.Cancelled,
		"committed", res.Commit.Committed, "commit_reason", res.Commit.Reason, "err", err)
	return res, err
}

// fail ends a job that never started, marking it cancelled if ctx ended.
func (c *Core) fail(ctx context.Context, res Result, err error) (Result, error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		res.Cancelled = true
	}
	return res, err
}

// countSelection counts a hit or a miss for jobs snapshots apply to.
func (c *Core) countSelection(sel selection) {
	switch {
	case !sel.apply:
	case sel.hit:
		c.counters.add(MetricHits, 1)
	default:
		c.counters.add(MetricMisses, 1)
	}
}

func newJobID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "j" + hex.EncodeToString(b)
}

// jobRun is one job from the creation of its container to its removal.
type jobRun struct {
	c   *Core
	rt  runtime.Runtime
	job Job
	sel selection
	res *Result
	log *slog.Logger
	id  string          // the container
	old *store.Snapshot // the generation a commit replaced

	release  func() // drops the owner's lock on the job's file
	finished bool   // the job's end is recorded
	leftover bool   // a container of the job may be left: the row stays, ended, for the sweep
}

// containerName is the name of the container of job jobID: with the job's
// row, what marks a container as berth's own.
func containerName(jobID string) string { return "berth-" + jobID }

func (r *jobRun) labels() map[string]string {
	l := maps.Clone(r.job.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelManagedBy] = ManagedBy
	l[LabelInstance] = r.c.instance
	l[LabelRuntime] = r.job.Runtime
	l[LabelProject] = r.job.Project
	l[LabelJob] = r.res.JobID
	l[LabelBaseImage] = r.job.Image
	if r.sel.base.ID != "" { // known when snapshots apply
		l[LabelBaseID] = r.sel.base.ID
	}
	if r.job.WorkItem != "" {
		l[LabelWorkItem] = r.job.WorkItem
	}
	return l
}

func (r *jobRun) spec() runtime.ContainerSpec {
	env, secret := r.c.splitEnv(r.job)
	flag := "0"
	if r.sel.hit {
		flag = "1"
	}
	return runtime.ContainerSpec{
		Name:        containerName(r.res.JobID),
		Image:       r.sel.image,
		Cmd:         r.job.Cmd,
		Env:         append(env, SnapshotEnv+"="+flag),
		SecretEnv:   secret,
		Labels:      r.labels(),
		MemoryBytes: r.job.MemoryBytes,
		NanoCPUs:    r.job.NanoCPUs,
	}
}

// record adds the job to the state, so that its container, once made, is
// known as a live job's: first the owner's lock on the job's file, then the
// row.
func (r *jobRun) record(ctx context.Context) error {
	c := r.c
	release, err := c.owners.hold(r.res.JobID)
	if err != nil {
		return err
	}
	err = c.st.AddJob(ctx, store.Job{ID: r.res.JobID, Runtime: r.job.Runtime, Project: r.job.Project,
		WorkItem: r.job.WorkItem, PID: c.owner.pid, PIDStart: c.owner.start, Started: c.now(), OwnerLock: true})
	if err != nil {
		release()
		return err
	}
	r.release = release
	return nil
}

// forget deletes the job's row if its end was not recorded (or marks it
// ended, when a container of the job may be left), then drops the owner's
// lock.
func (r *jobRun) forget(ctx context.Context) {
	defer r.release()
	if r.finished {
		return
	}
	cctx, cancel := cleanCtx(ctx)
	defer cancel()
	del := r.c.st.DeleteJob
	if r.leftover {
		del = r.c.st.EndJob
	}
	if err := del(cctx, r.res.JobID); err != nil {
		r.log.Warn("forget job", "err", err)
	}
}

// run starts the container, waits for its end, commits, and removes it.
func (r *jobRun) run(ctx context.Context) error {
	c := r.c
	t := time.Now()
	err := r.start(ctx)
	c.countSelection(r.sel)
	if err != nil {
		r.res.Durations.Start = time.Since(t)
		cctx, cancel := cleanCtx(ctx)
		defer cancel()
		r.leftover = !r.sweepLeftovers(cctx)
		if ctx.Err() != nil {
			r.res.Cancelled = true
			return fmt.Errorf("job %s cancelled while starting: %w", r.res.JobID, ctx.Err())
		}
		return err
	}
	r.res.Durations.Start = time.Since(t)
	defer func() {
		cctx, cancel := cleanCtx(ctx)
		defer cancel()
		t := time.Now()
		r.removeOld(cctx)
		r.res.Durations.Cleanup += time.Since(t)
	}()
	var deadline time.Time
	if r.job.Timeout > 0 {
		deadline = c.now().Add(r.job.Timeout)
	}
	if err := c.st.SetJobContainer(ctx, r.res.JobID, r.id, deadline); err != nil {
		r.log.Warn("record container", "err", err)
	}

	t = time.Now()
	waitErr := r.wait(ctx)
	r.res.Durations.Run = time.Since(t)

	var put *store.Snapshot
	switch reason := r.commitBlocker(waitErr); reason {
	case "":
		r.phase(PhaseCommit)
		t = time.Now()
		put = r.commit(ctx)
		r.res.Durations.Commit = time.Since(t)
		r.phase(PhaseCleanup)
	default:
		r.res.Commit.Reason = reason
	}
	var touch *store.Key
	if r.sel.hit && put == nil {
		touch = &r.sel.key
	}
	fctx, cancel := cleanCtx(ctx)
	defer cancel()
	// The row goes with the container; a container that could not be
	// removed keeps it (ended) for the sweep.
	removed := r.removeContainer(fctx)
	r.leftover = !removed
	err = c.st.FinishJob(fctx, r.res.JobID, removed, put, touch, c.now())
	if err != nil {
		// The deferred forget tries again; a commit left unrecorded is
		// adopted by the next reconcile.
		r.log.Error("record job end", "err", err)
		if put != nil {
			r.res.Commit.Committed = false
			r.res.Commit.Error = err.Error()
			c.counters.add(MetricCommitFailures, 1)
		}
	} else {
		r.finished = true
		if put != nil {
			c.counters.add(MetricCommits, 1)
		}
	}

	if r.res.Cancelled {
		return fmt.Errorf("job %s cancelled: %w", r.res.JobID, ctx.Err())
	}
	return waitErr
}

// removeContainer removes the job's container and reports whether it is
// gone; one it cannot remove is left for the sweep.
func (r *jobRun) removeContainer(ctx context.Context) bool {
	t := time.Now()
	defer func() { r.res.Durations.Cleanup += time.Since(t) }()
	if err := r.rt.Remove(ctx, r.id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		r.log.Warn("remove container (left for the sweep)", "container", r.id, "err", err)
		return false
	}
	return true
}

// start runs the container; when the snapshot image turns out to be gone,
// it drops the entry and runs once more on the base image.
func (r *jobRun) start(ctx context.Context) error {
	ctr, err := r.rt.Run(ctx, r.spec())
	if err != nil && r.sel.hit && errors.Is(err, runtime.ErrNotFound) {
		r.log.Warn("snapshot image gone at run: running on the base image", "image", r.sel.image)
		r.c.dropEntry(ctx, r.sel.entry.Snapshot)
		r.sel.hit, r.sel.reason, r.sel.image, r.sel.parent = false, ReasonImageGone, r.job.Image, r.sel.base.Layers
		r.sel.entry.Found = false
		r.sel.squash, r.sel.noRoom = false, ""
		if r.sel.parent+1 > r.c.layerLimit() {
			if r.sel.info.Has(runtime.CapSquash) {
				r.sel.squash = true
			} else {
				r.sel.noRoom = ReasonLayerLimit
			}
		}
		r.res.Image, r.res.Hit, r.res.Reason = r.sel.image, false, ReasonImageGone
		ctr, err = r.rt.Run(ctx, r.spec())
	}
	switch {
	case err != nil && !r.sel.apply && errors.Is(err, runtime.ErrNotFound):
		return fmt.Errorf("base image %q: %w", r.job.Image, err)
	case err != nil:
		return fmt.Errorf("run container from %q: %w", r.sel.image, err)
	}
	r.id = ctr.ID
	return nil
}

// sweepLeftovers removes any container of this job a failed Run left
// behind, so that no driver bug leaks containers. It reports whether none
// is left.
func (r *jobRun) sweepLeftovers(ctx context.Context) bool {
	ctrs, err := r.rt.ListContainers(ctx, runtime.LabelFilter{LabelJob: r.res.JobID, LabelInstance: r.c.instance})
	if err != nil {
		return false
	}
	clean := true
	for _, ctr := range ctrs {
		if err := r.rt.Remove(ctx, ctr.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			r.log.Warn("remove container left by a failed start", "container", ctr.ID, "err", err)
			clean = false
		}
	}
	return clean
}

// cleanCtx returns a context for clean-up after a job: it outlives ctx's
// cancellation (a cancelled job is still cleaned up) and is bounded by
// cleanupTimeout from the moment the clean-up begins, not from the job's start.
func cleanCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// phase tells the job's OnPhase hook, if any, that the job entered phase.
func (r *jobRun) phase(phase string) {
	if r.job.OnPhase != nil {
		r.job.OnPhase(phase)
	}
}
