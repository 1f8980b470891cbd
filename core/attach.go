package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/gofrs/flock"
)

// ErrStateBusy: another serving Core (berth serve) owns the state
// directory: Recover ran there and it still lives.
var ErrStateBusy = errors.New("another berth serve owns this state directory")

// stateClaim is the lock a serving Core holds on its state directory from
// Recover to Close: two of them would fail each other's queued jobs.
type stateClaim struct{ f *flock.Flock }

func claimState(dir string) (*stateClaim, error) {
	f := flock.New(filepath.Join(dir, "serve.lock"), flock.SetPermissions(0o600))
	ok, err := f.TryLock()
	if err != nil {
		return nil, fmt.Errorf("core: claim state directory: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("%w (%s)", ErrStateBusy, dir)
	}
	return &stateClaim{f}, nil
}

func (s *stateClaim) release() {
	if s != nil {
		s.f.Close()
	}
}

// resumeState is what taking a running job over needs, recorded once its
// container started.
type resumeState struct {
	Container string         `json:"container"`
	Deadline  time.Time      `json:"deadline,omitzero"`
	Began     time.Time      `json:"began"`
	Image     string         `json:"image"`
	Hit       bool           `json:"hit"`
	Reason    SnapshotReason `json:"reason"`
	Apply     bool           `json:"apply"`
	Key       store.Key      `json:"key"`
	Entry     store.Entry    `json:"entry"`
	BaseID    string         `json:"base_id,omitempty"`
	Parent    int            `json:"parent"`
	Squash    bool           `json:"squash,omitempty"`
	NoRoom    bool           `json:"no_room,omitempty"`
	Durations Durations      `json:"durations"`
}

func resumeOf(r *jobRun) resumeState {
	return resumeState{Container: r.id, Deadline: r.deadline, Began: r.began, Image: r.sel.image, Hit: r.sel.hit,
		Reason: r.sel.reason, Apply: r.sel.apply, Key: r.sel.key, Entry: r.sel.entry, BaseID: r.sel.base.ID,
		Parent: r.sel.parent, Squash: r.sel.squash, NoRoom: r.sel.noRoom, Durations: r.res.Durations}
}

// Recover takes over the submitted jobs whose owner died (a killed berth
// serve): a running container is re-attached (its wait, deadline, output,
// commit and clean-up go on in the background), one that exited meanwhile
// has its end recorded and is committed by the usual rules; a job that
// never started fails with ErrInterrupted. Call it once after Open, before
// Submit. From then on this Core owns the state directory's submitted
// jobs: another Core's Recover fails with ErrStateBusy until it is closed.
func (c *Core) Recover(ctx context.Context) (RecoverReport, error) {
	rep := RecoverReport{Reattached: []string{}, Failed: []string{}}
	if err := c.enter(); err != nil {
		return rep, err
	}
	defer c.inflight.Done()
	claim, err := claimState(c.cfg.StateDir)
	if err != nil {
		return rep, err
	}
	c.sub.mu.Lock()
	if c.sub.claim != nil {
		c.sub.mu.Unlock()
		claim.release()
		return rep, errors.New("core: Recover called twice")
	}
	c.sub.claim = claim
	c.sub.mu.Unlock()

	rows, err := c.st.Jobs(ctx)
	if err != nil {
		return rep, fmt.Errorf("core: %w", err)
	}
	taken := map[string]bool{}
	for _, row := range rows {
		if !row.Durable || row.Ended {
			continue // a job of berth run, or only its container's removal left: the sweep's
		}
		v := c.owners.judge(row)
		if v.alive {
			v.release(false)
			continue
		}
		taken[row.ID] = true
		ok, err := c.takeOver(ctx, row, v)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.Reattached = append(rep.Reattached, row.ID)
		} else {
			rep.Failed = append(rep.Failed, row.ID)
		}
	}
	// Records a dead owner left live with no job to take over: it died
	// before the job's row was written, or after it was removed.
	recs, err := c.st.Records(ctx, store.RecordFilter{States: []string{string(JobQueued), string(JobRunning)}})
	if err != nil {
		return rep, fmt.Errorf("core: %w", err)
	}
	for _, sr := range recs {
		c.sub.mu.Lock()
		live := c.sub.live[sr.ID] != nil
		c.sub.mu.Unlock()
		if live || taken[sr.ID] {
			continue
		}
		rec, err := decodeRecord(sr)
		if err != nil {
			return rep, err
		}
		cause := ErrInterrupted
		if rec.State == JobRunning {
			cause = ErrLost
		}
		c.endTaken(rec, fmt.Errorf("job %s: %w", rec.ID, cause))
		rep.Failed = append(rep.Failed, rec.ID)
	}
	c.log.Info("recovered submitted jobs", "reattached", len(rep.Reattached), "failed", len(rep.Failed))
	return rep, nil
}

// takeOver takes job row over from its dead owner, whose lock v holds. A
// job whose container runs or exited goes on in the background (true);
// one that never started ends failed (false).
func (c *Core) takeOver(ctx context.Context, row store.Job, v verdict) (bool, error) {
	lock := v.lock
	if lock == nil {
		l, err := c.owners.hold(row.ID)
		if err != nil {
			return false, fmt.Errorf("core: take job %s over: %w", row.ID, err)
		}
		lock = &l
	}
	sr, err := c.st.GetRecord(ctx, row.ID)
	if err != nil {
		lock.abandon()
		return false, fmt.Errorf("core: take job %s over: %w", row.ID, err)
	}
	rec, err := decodeRecord(sr)
	if err != nil {
		lock.abandon()
		return false, err
	}
	var rs resumeState
	if row.ContainerID == "" || len(sr.Resume) == 0 || json.Unmarshal(sr.Resume, &rs) != nil {
		// It died before the container was recorded: remove any it made.
		r := c.newRun(jobOf(rec.Spec), row.ID, rec.Created)
		r.lock = *lock
		go c.dropStarting(r, rec)
		return false, nil
	}
	if err := c.st.SetJobOwner(ctx, row.ID, c.owner.pid, c.owner.start); err != nil {
		lock.abandon()
		return false, fmt.Errorf("core: take job %s over: %w", row.ID, err)
	}
	out, err := createLog(c.sub.logs, row.ID)
	if err != nil {
		lock.abandon()
		return false, fmt.Errorf("core: take job %s over: %w", row.ID, err)
	}
	job := jobOf(rec.Spec)
	job.Stdout, job.Stderr = out.writer(Stdout), out.writer(Stderr)
	r := c.newRun(job, row.ID, rs.Began)
	r.durable, r.detach, r.lock, r.id, r.deadline = true, c.sub.detachCtx, *lock, rs.Container, rs.Deadline
	r.sel = selection{image: rs.Image, hit: rs.Hit, reason: rs.Reason, apply: rs.Apply, key: rs.Key, entry: rs.Entry,
		base: runtime.Image{ID: rs.BaseID}, parent: rs.Parent, squash: rs.Squash, noRoom: rs.NoRoom}
	r.res.Image, r.res.Hit, r.res.Reason, r.res.Durations = rs.Image, rs.Hit, rs.Reason, rs.Durations
	rec.State = JobRunning
	rec.Reattached++
	jctx, cancel := context.WithCancel(context.Background())
	lj := &liveJob{rec: rec, cancel: cancel, done: make(chan struct{}), exited: make(chan struct{}), out: out}
	c.sub.mu.Lock()
	c.sub.live[rec.ID] = lj
	c.sub.wg.Add(1)
	c.sub.mu.Unlock()
	c.saveRecord(rec, sr.Resume)
	r.onCommit = func() { c.committing(lj, r) }
	r.log.Info("taking over a running job", "container", r.id, "deadline", r.deadline)
	go c.runSubmitted(jctx, lj, r, r.resume)
	return true, nil
}

// dropStarting ends a taken-over job that never started: any container it
// made is removed, its row goes, its record ends failed.
func (c *Core) dropStarting(r *jobRun, rec JobRecord) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var err error
	if r.rt, err = c.lookup(ctx, r.job.Runtime); err == nil && r.sweepLeftovers(ctx) {
		err = c.st.DeleteJob(ctx, r.res.JobID)
	} else if err == nil {
		err = errors.New("a container of the job is left")
	}
	if err != nil {
		// The sweep removes the container once the row is marked ended.
		r.log.Warn("remove what a job that never started left (left for the sweep)", "err", err)
		c.st.EndJob(ctx, r.res.JobID) //nolint:errcheck // the sweep judges the row
		r.lock.abandon()
	} else {
		r.lock.release()
	}
	c.endTaken(rec, fmt.Errorf("job %s: %w", rec.ID, ErrInterrupted))
}

// endTaken records the end of a job that could not go on.
func (c *Core) endTaken(rec JobRecord, err error) {
	stored := failedRecord(&rec, err)
	stored.Ended = c.now()
	rec.Ended = stored.Ended
	c.saveRecord(rec, nil)
	c.emit(EventJobExited, &rec, nil)
}

// resume goes on with a taken-over job: its work item's turn and a slot,
// then its wait (the recorded deadline still holds), commit and clean-up.
func (r *jobRun) resume(ctx context.Context) (res Result, err error) {
	c := r.c
	defer func() {
		r.res.Durations.Total = time.Since(r.began)
		res = *r.res
	}()
	leave := func() { r.forget(ctx) }
	defer func() { leave() }()
	if r.rt, err = c.lookup(ctx, r.job.Runtime); err != nil {
		r.leftover = true // the sweep removes the container once the engine is back
		return r.fail(ctx, err)
	}
	tctx := ctx
	if r.detach != nil {
		var cancel context.CancelCauseFunc
		tctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		defer context.AfterFunc(r.detach, func() { cancel(errDetached) })()
	}
	release, err := r.turn(tctx)
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(tctx), errDetached) {
			r.detached = true
			return *r.res, errDetached
		}
		r.leftover = true
		return r.fail(ctx, err)
	}
	leave = func() {
		r.forget(ctx)
		release()
	}
	if r.sel.apply {
		if r.sel.info, err = c.info(ctx, r.job.Runtime, r.rt); err != nil {
			r.leftover = true
			return r.fail(ctx, err)
		}
		fresh, err := c.st.Lookup(ctx, r.sel.key)
		if err != nil {
			r.leftover = true
			return r.fail(ctx, err)
		}
		r.superseded = !sameEntry(fresh, r.sel.entry)
	}
	ctr, err := r.rt.InspectContainer(ctx, r.id)
	switch {
	case errors.Is(err, runtime.ErrNotFound):
		return r.lost(ctx)
	case err != nil:
		r.leftover = true
		return r.fail(ctx, fmt.Errorf("inspect container %s: %w", r.id, err))
	}
	switch {
	case ctr.State == runtime.StateExited:
		r.timeout = 0 // it ended while no one watched: its exit stands
	case !r.deadline.IsZero():
		r.timeout = max(r.deadline.Sub(c.now()), time.Nanosecond)
	}
	return r.finish(ctx)
}

// lost ends a taken-over job whose container is gone.
func (r *jobRun) lost(ctx context.Context) (Result, error) {
	cctx, cancel := cleanCtx(ctx)
	defer cancel()
	if err := r.c.st.DeleteJob(cctx, r.res.JobID); err != nil {
		r.log.Warn("forget lost job", "err", err)
	}
	r.finished = true
	return *r.res, fmt.Errorf("job %s: container %s: %w", r.res.JobID, r.id, ErrLost)
}

// sameEntry reports whether a work item's stored state is still the one
// a job started from.
func sameEntry(a, b store.Entry) bool {
	return a.Found == b.Found && a.Snapshot.ImageID == b.Snapshot.ImageID &&
		a.Snapshot.Generation == b.Snapshot.Generation && a.LastGeneration == b.LastGeneration &&
		a.DroppedThrough == b.DroppedThrough
}
