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
//
// A job is admitted (its runtime, its work item's turn, a slot, its row),
// then its image is selected, its container run, committed as the work
// item's next snapshot when the job succeeded, and cleaned up.
func (c *Core) Run(ctx context.Context, job Job) (Result, error) {
	began := time.Now()
	if err := c.enter(); err != nil {
		return Result{Runtime: job.Runtime, Project: job.Project, WorkItem: job.WorkItem}, err
	}
	defer c.inflight.Done()
	job, err := c.normalize(job)
	if err != nil {
		return Result{Runtime: job.Runtime, Project: job.Project, WorkItem: job.WorkItem}, err
	}
	return c.newRun(job, newJobID(), began).run(ctx)
}

// newRun makes the run of job (normalized) as job id.
func (c *Core) newRun(job Job, id string, began time.Time) *jobRun {
	return &jobRun{c: c, job: job, began: began,
		res: &Result{JobID: id, Runtime: job.Runtime, Project: job.Project, WorkItem: job.WorkItem},
		log: c.log.With("job", id, "runtime", job.Runtime, "project", job.Project, "work_item", job.WorkItem)}
}

// run runs the job from its admission to its end (see Run).
func (r *jobRun) run(ctx context.Context) (res Result, err error) {
	c := r.c
	defer func() {
		r.res.Durations.Total = time.Since(r.began)
		res = *r.res
	}()
	actx := ctx
	if r.detach != nil {
		var cancel context.CancelCauseFunc
		actx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		defer context.AfterFunc(r.detach, func() { cancel(errDetached) })()
	}
	leave, err := r.admit(actx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(actx), errDetached) {
			err = fmt.Errorf("job %s: %w", r.res.JobID, ErrInterrupted)
		}
		return r.fail(ctx, err)
	}
	defer leave()
	if r.detach != nil && r.detach.Err() != nil {
		// Admitted as the Core detached (a slot freed by a job it left).
		return r.fail(ctx, fmt.Errorf("job %s: %w", r.res.JobID, ErrInterrupted))
	}
	r.res.Durations.Queue = time.Since(r.began)

	if err := r.selectImage(ctx, ""); err != nil {
		return r.fail(ctx, err)
	}
	c.counters.add(MetricJobs, 1)
	if err := r.start(ctx); err != nil {
		return *r.res, err
	}
	return r.finish(ctx)
}

// finish waits for the started (or taken over) container's end, commits
// it when the rules allow and cleans up. When the Core detaches, it leaves
// the container running and returns errDetached.
func (r *jobRun) finish(ctx context.Context) (Result, error) {
	res := r.res
	if r.running.IsZero() {
		r.running = time.Now() // taken over: from now on
	}
	waitErr := r.wait(ctx)
	res.Durations.Run += time.Since(r.running)
	if errors.Is(waitErr, errDetached) {
		r.detached = true
		r.log.Info("job left running for the next owner", "container", r.id)
		return *res, waitErr
	}
	snap := r.commitIfSucceeded(ctx, waitErr)
	r.cleanUp(ctx, snap)

	r.log.Info("job ended", "image", res.Image, "hit", res.Hit, "reason", res.Reason, "exit_code", res.ExitCode,
		"timed_out", res.TimedOut, "cancelled", res.Cancelled, "committed", res.Commit.Committed,
		"commit_reason", res.Commit.Reason, "err", waitErr)
	if res.Cancelled {
		return *res, fmt.Errorf("job %s cancelled: %w", res.JobID, ctx.Err())
	}
	return *res, waitErr
}

// fail ends a job that never started, marking it cancelled if ctx ended.
func (r *jobRun) fail(ctx context.Context, err error) (Result, error) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		r.res.Cancelled = true
	}
	return *r.res, err
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

	began    time.Time // when the job was made (Run called, or Submit)
	running  time.Time // when its container was seen started
	timeout  time.Duration
	lock     ownerLock // the owner's lock on the job's file
	finished bool      // the job's end is recorded
	leftover bool      // a container of the job may be left: the row stays, ended, for the sweep

	// Submitted jobs only.
	durable    bool            // the row is durable: a restarted owner takes the job over
	detach     context.Context // done when the Core detaches: leave the job running
	detached   bool            // left running (detach): the row and the owner's file stay
	onStart    func()          // called once the container started and is recorded
	onCommit   func()          // called once the container exited, when a commit follows
	deadline   time.Time       // recorded end of the job's timeout (zero: none)
	superseded bool            // taken over after another job of the work item committed
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

// admit waits for what the job needs before its container: its runtime
// (reconciled with the state the first time this Core uses it, before the
// job holds its work item: the reconcile adopts snapshots only of work
// items no job holds), its work item's turn and a job slot. Then it
// records the job. leave undoes it all, in reverse.
func (r *jobRun) admit(ctx context.Context) (leave func(), err error) {
	c := r.c
	if r.rt, err = c.lookup(ctx, r.job.Runtime); err != nil {
		return nil, err
	}
	c.reconcileOnce(ctx, r.job.Runtime, r.rt)
	release, err := r.turn(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.record(ctx); err != nil {
		release()
		return nil, err
	}
	return func() {
		r.forget(ctx)
		release()
	}, nil
}

// turn waits for the job's work item's turn and a job slot; release gives
// both back.
func (r *jobRun) turn(ctx context.Context) (release func(), err error) {
	c := r.c
	unlock := itemUnlock(func() {})
	if r.job.WorkItem != "" {
		if unlock, err = c.lockItem(ctx, r.job.Project, r.job.WorkItem, c.cfg.WorkItemTimeout); err != nil {
			return nil, err
		}
	}
	began := time.Now()
	releaseSlot, err := c.slots.acquire(ctx, c.cfg.QueueTimeout)
	if err != nil {
		unlock()
		return nil, err
	}
	wait := c.cfg.QueueTimeout
	if wait > 0 {
		if wait -= time.Since(began); wait <= 0 {
			wait = time.Nanosecond
		}
	}
	releaseCluster, err := c.clusterSlot(ctx, wait)
	if err != nil {
		releaseSlot()
		unlock()
		return nil, err
	}
	return func() {
		releaseCluster()
		releaseSlot()
		unlock()
	}, nil
}

// record adds the job to the state, so that its container, once made, is
// known as a live job's: first the owner's lock on the job's file, then the
// row.
func (r *jobRun) record(ctx context.Context) error {
	c := r.c
	lock, err := c.owners.hold(r.res.JobID)
	if err != nil {
		return err
	}
	err = c.st.AddJob(ctx, store.Job{ID: r.res.JobID, Runtime: r.job.Runtime, Project: r.job.Project,
		WorkItem: r.job.WorkItem, PID: c.owner.pid, PIDStart: c.owner.start, Started: c.now(), OwnerLock: true,
		Durable: r.durable})
	if err != nil {
		lock.release()
		return err
	}
	r.lock = lock
	return nil
}

// forget deletes the job's row if its end was not recorded (or marks it
// ended, when a container of the job may be left), then drops the owner's
// lock.
func (r *jobRun) forget(ctx context.Context) {
	if r.detached {
		r.lock.abandon()
		return
	}
	defer r.lock.release()
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

// selectImage selects the image the job runs from (see Core.selectImage)
// and reports it in the result.
func (r *jobRun) selectImage(ctx context.Context, gone string) error {
	t := time.Now()
	sel, err := r.c.selectImage(ctx, r.rt, r.job, gone)
	r.res.Durations.Select += time.Since(t)
	if err != nil {
		return err
	}
	r.sel = sel
	r.res.Image, r.res.Hit, r.res.Reason = sel.image, sel.hit, sel.reason
	r.res.Pulled = sel.hit && sel.pulled
	return nil
}

// start creates and starts the container and records it with the job's
// deadline. When the snapshot's image turns out to be gone, the image is
// selected again without it (the base image, ReasonImageGone) and the
// container made once more. A container a failed start left is removed.
func (r *jobRun) start(ctx context.Context) error {
	t := time.Now()
	defer func() { r.res.Durations.Start = time.Since(t) }()
	ctr, err := r.rt.Run(ctx, r.spec())
	if err != nil && r.sel.hit && errors.Is(err, runtime.ErrNotFound) {
		r.log.Warn("snapshot image gone at run: running on the base image", "image", r.sel.image)
		if err = r.selectImage(ctx, r.sel.entry.Snapshot.ImageID); err == nil {
			ctr, err = r.rt.Run(ctx, r.spec())
		}
	}
	r.c.countSelection(r.sel)
	if err != nil {
		return r.failedStart(ctx, err)
	}
	r.id, r.running = ctr.ID, time.Now()
	r.log.Info("job started", "image", r.sel.image, "hit", r.sel.hit, "reason", r.sel.reason)
	r.timeout = r.job.Timeout
	if r.job.Timeout > 0 {
		r.deadline = r.c.now().Add(r.job.Timeout)
	}
	if err := r.c.st.SetJobContainer(ctx, r.res.JobID, r.id, r.deadline); err != nil {
		r.log.Warn("record container", "err", err)
	}
	if r.onStart != nil {
		r.onStart()
	}
	return nil
}

// failedStart removes what a failed start left and returns its error.
func (r *jobRun) failedStart(ctx context.Context, err error) error {
	cctx, cancel := cleanCtx(ctx)
	defer cancel()
	r.leftover = !r.sweepLeftovers(cctx)
	switch {
	case ctx.Err() != nil:
		r.res.Cancelled = true
		return fmt.Errorf("job %s cancelled while starting: %w", r.res.JobID, ctx.Err())
	case !r.sel.apply && errors.Is(err, runtime.ErrNotFound):
		return fmt.Errorf("base image %q: %w", r.job.Image, err)
	default:
		return fmt.Errorf("run container from %q: %w", r.sel.image, err)
	}
}

// commitIfSucceeded commits the container as the work item's next
// snapshot when nothing blocks it (see commitBlocker), and returns the
// snapshot to store, or nil.
func (r *jobRun) commitIfSucceeded(ctx context.Context, waitErr error) *store.Snapshot {
	if reason := r.commitBlocker(waitErr); reason != "" {
		r.res.Commit.Reason = reason
		return nil
	}
	if r.onCommit != nil {
		r.onCommit()
	}
	r.phase(PhaseCommit)
	defer r.phase(PhaseCleanup)
	t := time.Now()
	defer func() { r.res.Durations.Commit = time.Since(t) }()
	if r.unchanged(ctx) {
		r.res.Commit.Reason = NoCommitUnchanged
		return nil
	}
	snap := r.commit(ctx)
	if snap != nil {
		r.push(ctx, snap)
	}
	return snap
}

// cleanUp removes the container and records the job's end with the
// snapshot it committed (snap) or used, then removes the generation a
// commit replaced. A container that could not be removed keeps the job's
// row (ended) for the sweep. It runs to its end even when ctx is cancelled.
func (r *jobRun) cleanUp(ctx context.Context, snap *store.Snapshot) {
	c := r.c
	ctx, cancel := cleanCtx(ctx)
	defer cancel()
	removed := r.removeContainer(ctx)
	r.leftover = !removed
	end := store.JobEnd{ID: r.res.JobID, ContainerRemoved: removed, Commit: snap, At: c.now()}
	if r.sel.hit && snap == nil {
		end.Used = r.sel.key
		r.touchShared(ctx)
	}
	if err := c.st.FinishJob(ctx, end); err != nil {
		// The deferred forget tries again; a commit left unrecorded is
		// adopted by the next reconcile.
		r.log.Error("record job end", "err", err)
		if snap != nil {
			r.res.Commit.Committed = false
			r.res.Commit.Error = err.Error()
			c.counters.add(MetricCommitFailures, 1)
		}
	} else {
		r.finished = true
		if snap != nil {
			c.counters.add(MetricCommits, 1)
		}
	}
	t := time.Now()
	r.removeOld(ctx)
	r.res.Durations.Cleanup += time.Since(t)
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
