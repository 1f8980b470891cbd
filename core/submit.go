package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
)

// defaultJobHistory is the number of ended job records kept by default.
const defaultJobHistory = 1000

// submitted are the jobs this Core runs in the background (Submit, or
// taken over by Recover).
type submitted struct {
	logs string // the directory of the output files

	mu       sync.Mutex
	live     map[string]*liveJob
	draining bool
	wg       sync.WaitGroup

	detachCtx context.Context // done once the Core detaches
	detach    context.CancelFunc
	claim     *stateClaim // held once Recover ran: one serving Core per state directory
}

// liveJob is a submitted job this Core runs.
type liveJob struct {
	rec    JobRecord // guarded by submitted.mu
	cancel context.CancelFunc
	done   chan struct{} // closed once the job's end is recorded
	out    *jobLog

	exited   chan struct{} // closed once its container's exit is told (committing), or at its end
	exitOnce sync.Once
}

func newSubmitted(stateDir string) (*submitted, error) {
	dir := filepath.Join(stateDir, "logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &submitted{logs: dir, live: map[string]*liveJob{}, detachCtx: ctx, detach: cancel}, nil
}

// specOf is job as recorded: without its secret values.
func specOf(job Job) JobSpec {
	spec := JobSpec{Runtime: job.Runtime, Image: job.Image, Cmd: job.Cmd, Project: job.Project,
		WorkItem: job.WorkItem, Snapshot: job.Snapshot, Env: job.Env, Labels: job.Labels,
		Timeout: job.Timeout, MemoryBytes: job.MemoryBytes, NanoCPUs: job.NanoCPUs}
	for _, kv := range job.SecretEnv {
		k, _, _ := strings.Cut(kv, "=")
		spec.SecretKeys = append(spec.SecretKeys, k)
	}
	return spec
}

// jobOf is the job spec stands for, without secret values.
func jobOf(spec JobSpec) Job {
	return Job{Runtime: spec.Runtime, Image: spec.Image, Cmd: spec.Cmd, Project: spec.Project,
		WorkItem: spec.WorkItem, Snapshot: spec.Snapshot, Env: spec.Env, Labels: spec.Labels,
		Timeout: spec.Timeout, MemoryBytes: spec.MemoryBytes, NanoCPUs: spec.NanoCPUs}
}

// Submit records job as queued and runs it in the background: it returns
// at once with the job's record (or ErrInvalidJob, ErrUnknownRuntime,
// ErrDraining, ErrClosed). Its output goes to the job's log (JobLogs), its
// changes to Config.OnEvent. Job.Stdout, Stderr and OnPhase are ignored.
func (c *Core) Submit(ctx context.Context, job Job, opts SubmitOptions) (JobRecord, error) {
	if err := c.enter(); err != nil {
		return JobRecord{}, err
	}
	defer c.inflight.Done()
	job.Stdout, job.Stderr, job.OnPhase = nil, nil, nil
	job, err := c.normalize(job)
	if err != nil {
		return JobRecord{}, err
	}
	if !slices.Contains(c.cfg.Runtimes.Names(), job.Runtime) {
		return JobRecord{}, fmt.Errorf("%w: %q", ErrUnknownRuntime, job.Runtime)
	}
	s := c.sub
	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	if s.draining {
		return JobRecord{}, ErrDraining
	}
	rec := JobRecord{ID: newJobID(), State: JobQueued, Spec: specOf(job), IdempotencyKey: opts.IdempotencyKey,
		Created: c.now()}
	data, err := json.Marshal(rec)
	if err != nil {
		return JobRecord{}, err
	}
	got, dup, err := c.st.AddRecord(ctx, store.Record{ID: rec.ID, IdempotencyKey: opts.IdempotencyKey,
		State: string(rec.State), Project: job.Project, WorkItem: job.WorkItem, Created: rec.Created, Data: data})
	if err != nil {
		return JobRecord{}, fmt.Errorf("core: %w", err)
	}
	if dup {
		if lj := s.live[got.ID]; lj != nil {
			return lj.rec, nil
		}
		return decodeRecord(got)
	}
	out, err := createLog(s.logs, rec.ID)
	if err != nil {
		c.st.UpdateRecord(context.WithoutCancel(ctx), failedRecord(&rec, err)) //nolint:errcheck // best effort: the error is returned
		return JobRecord{}, fmt.Errorf("core: %w", err)
	}
	jctx, cancel := context.WithCancel(context.Background())
	lj := &liveJob{rec: rec, cancel: cancel, done: make(chan struct{}), exited: make(chan struct{}), out: out}
	s.live[rec.ID] = lj
	s.wg.Add(1)
	s.mu.Unlock()
	locked = false
	c.emit(EventJobQueued, &rec, nil)
	job.Stdout, job.Stderr = out.writer(Stdout), out.writer(Stderr)
	r := c.newRun(job, rec.ID, time.Now())
	r.durable, r.detach = true, s.detachCtx
	r.onStart = func() { c.started(lj, r) }
	r.onCommit = func() { c.committing(lj, r) }
	go c.runSubmitted(jctx, lj, r, r.run)
	return rec, nil
}

// runSubmitted runs a submitted job (through run: from its admission, or
// from a taken-over container) and records its end.
func (c *Core) runSubmitted(ctx context.Context, lj *liveJob, r *jobRun, run func(context.Context) (Result, error)) {
	defer c.sub.wg.Done()
	defer lj.cancel()
	res, err := run(ctx)
	lj.out.close()
	if errors.Is(err, errDetached) {
		c.sub.mu.Lock()
		delete(c.sub.live, lj.rec.ID)
		c.sub.mu.Unlock()
		lj.exitOnce.Do(func() { close(lj.exited) })
		close(lj.done)
		return
	}
	c.ended(lj, res, err)
}

// started records that the job's container runs, with what taking it over
// after a restart needs.
func (c *Core) started(lj *liveJob, r *jobRun) {
	resume, err := json.Marshal(resumeOf(r))
	if err != nil {
		r.log.Error("record job start", "err", err)
		return
	}
	// Stored before it is told: whoever sees the job running can count on
	// a restarted owner taking it over.
	c.sub.mu.Lock()
	rec := lj.rec
	c.sub.mu.Unlock()
	rec.State, rec.Started = JobRunning, c.now()
	c.saveRecord(rec, resume)
	c.sub.mu.Lock()
	lj.rec.State, lj.rec.Started = rec.State, rec.Started
	c.sub.mu.Unlock()
	c.emit(EventJobStarted, &rec, nil)
}

// committing records that the job's container exited and its commit
// runs: its exit code, output and durations so far are final, and told
// (EventJobCommitting) before the commit, so that a caller waiting for the
// exit alone (WaitJobExit) is not held by it. The job stays running (a
// restarted owner takes it over, and commits) until the commit ends.
func (c *Core) committing(lj *liveJob, r *jobRun) {
	resume, err := json.Marshal(resumeOf(r))
	if err != nil {
		r.log.Error("record job exit", "err", err)
		return
	}
	res := *r.res
	res.Commit.Pending = true
	res.Durations.Total = time.Since(r.began)
	c.sub.mu.Lock()
	lj.rec.Exited, lj.rec.Result = c.now(), &res
	rec := lj.rec
	c.sub.mu.Unlock()
	c.saveRecord(rec, resume)
	lj.out.close() // the output is all copied: a follow of it ends now
	c.emit(EventJobCommitting, &rec, nil)
	lj.exitOnce.Do(func() { close(lj.exited) })
}

// ended records the end of a submitted job, tells it, and evicts the
// oldest records beyond the history's cap.
func (c *Core) ended(lj *liveJob, res Result, err error) {
	c.sub.mu.Lock()
	rec := &lj.rec
	rec.Ended, rec.Result = c.now(), &res
	switch {
	case res.Cancelled:
		rec.State = JobCancelled
	case err != nil:
		rec.State = JobFailed
	default:
		rec.State = JobExited
	}
	if err != nil {
		rec.Error, rec.ErrorKind = err.Error(), KindOf(err)
	}
	done := *rec
	c.sub.mu.Unlock()
	// Live until stored: a reader finds the job in one place or the other.
	c.saveRecord(done, nil)
	c.pruneRecords()
	if res.Commit.Committed {
		c.emit(EventSnapshotCommitted, nil, &Snapshot{Runtime: res.Runtime, Project: res.Project,
			WorkItem: res.WorkItem, Image: res.Commit.Image, ImageID: res.Commit.ImageID, BaseImage: done.Spec.Image,
			Size: res.Commit.Size, Layers: res.Commit.Layers, Generation: res.Commit.Generation,
			Created: done.Ended, LastUsed: done.Ended, Expires: c.expires(res.Project, done.Ended)})
	}
	c.emit(EventJobExited, &done, nil)
	// Told before waiters wake: a waiter has seen every event of the job.
	c.sub.mu.Lock()
	delete(c.sub.live, done.ID)
	c.sub.mu.Unlock()
	lj.exitOnce.Do(func() { close(lj.exited) })
	close(lj.done)
}

// saveRecord writes rec (and what taking it over needs, while it is live).
func (c *Core) saveRecord(rec JobRecord, resume []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	data, err := json.Marshal(rec)
	if err == nil {
		err = c.st.UpdateRecord(ctx, store.Record{ID: rec.ID, State: string(rec.State), Ended: rec.Ended,
			Data: data, Resume: resume})
	}
	if err != nil {
		c.log.Error("record job", "job", rec.ID, "state", rec.State, "err", err)
	}
}

// failedRecord ends rec as failed with err and returns it as stored.
func failedRecord(rec *JobRecord, err error) store.Record {
	rec.State, rec.Ended, rec.Error, rec.ErrorKind = JobFailed, time.Now(), err.Error(), KindOf(err)
	if rec.Result == nil {
		rec.Result = &Result{JobID: rec.ID, Runtime: rec.Spec.Runtime, Project: rec.Spec.Project, WorkItem: rec.Spec.WorkItem}
	}
	data, _ := json.Marshal(rec)
	return store.Record{ID: rec.ID, State: string(rec.State), Ended: rec.Ended, Data: data}
}

// pruneRecords evicts the oldest ended records (and their output) beyond
// Config.JobHistory.
func (c *Core) pruneRecords() {
	keep := c.cfg.JobHistory
	if keep <= 0 {
		keep = defaultJobHistory
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	ids, err := c.st.PruneRecords(ctx, keep)
	if err != nil {
		c.log.Warn("evict job records", "err", err)
	}
	for _, id := range ids {
		os.Remove(logPath(c.sub.logs, id))
	}
}

func decodeRecord(r store.Record) (JobRecord, error) {
	var rec JobRecord
	if err := json.Unmarshal(r.Data, &rec); err != nil {
		return rec, fmt.Errorf("core: job record %s: %w", r.ID, err)
	}
	return rec, nil
}

// emit tells Config.OnEvent, if set.
func (c *Core) emit(t EventType, rec *JobRecord, snap *Snapshot) {
	if c.cfg.OnEvent == nil {
		return
	}
	ev := Event{Type: t, Time: c.now(), Snapshot: snap}
	if rec != nil {
		cp := *rec
		ev.Job = &cp
	}
	c.cfg.OnEvent(ev)
}

// GetJob returns the record of job id (ErrJobNotFound if none).
func (c *Core) GetJob(ctx context.Context, id string) (JobRecord, error) {
	c.sub.mu.Lock()
	lj := c.sub.live[id]
	var rec JobRecord
	if lj != nil {
		rec = lj.rec
	}
	c.sub.mu.Unlock()
	if lj != nil {
		return rec, nil
	}
	r, err := c.st.GetRecord(ctx, id)
	if errors.Is(err, store.ErrNoRecord) {
		return JobRecord{}, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	}
	if err != nil {
		return JobRecord{}, fmt.Errorf("core: %w", err)
	}
	return decodeRecord(r)
}

// ListJobs returns the records f selects, newest first.
func (c *Core) ListJobs(ctx context.Context, f JobFilter) ([]JobRecord, error) {
	sf := store.RecordFilter{Project: f.Project, WorkItem: f.WorkItem, Limit: f.Limit}
	if f.State != "" {
		sf.States = []string{string(f.State)}
	}
	rows, err := c.st.Records(ctx, sf)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	out := make([]JobRecord, 0, len(rows))
	for _, r := range rows {
		rec, err := decodeRecord(r)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// WaitJob waits until job id has ended and returns its record; when ctx
// ends first it returns the record as it is with ctx's error.
func (c *Core) WaitJob(ctx context.Context, id string) (JobRecord, error) {
	return c.waitJob(ctx, id, func(lj *liveJob) <-chan struct{} { return lj.done })
}

// WaitJobExit is WaitJob, but returns as soon as the job's container
// exited and a commit follows (the record's Exited set, its
// Result.Commit.Pending true) or the job ended: a caller that needs the
// exit code and output is not held by the commit.
func (c *Core) WaitJobExit(ctx context.Context, id string) (JobRecord, error) {
	return c.waitJob(ctx, id, func(lj *liveJob) <-chan struct{} { return lj.exited })
}

func (c *Core) waitJob(ctx context.Context, id string, until func(*liveJob) <-chan struct{}) (JobRecord, error) {
	c.sub.mu.Lock()
	lj := c.sub.live[id]
	c.sub.mu.Unlock()
	if lj != nil {
		select {
		case <-until(lj):
		case <-ctx.Done():
			rec, _ := c.GetJob(context.WithoutCancel(ctx), id)
			return rec, ctx.Err()
		}
	}
	return c.GetJob(ctx, id)
}

// CancelJob cancels job id: a queued job ends cancelled at once, a running
// one is stopped (grace period, then kill) and ends cancelled. Cancelling
// an ended job changes nothing. It returns the record as it is after the
// call (the stop goes on in the background: WaitJob waits for it).
func (c *Core) CancelJob(ctx context.Context, id string) (JobRecord, error) {
	c.sub.mu.Lock()
	lj := c.sub.live[id]
	c.sub.mu.Unlock()
	if lj != nil {
		lj.cancel()
	}
	return c.GetJob(ctx, id)
}

// JobLogs calls fn with job id's output from its start, in order; with
// Follow it goes on until the job ended and its output is all read (or ctx
// ends). A slow fn never holds the job up: the output is read from the
// job's log file. fn must not keep the chunk's Data after it returns.
func (c *Core) JobLogs(ctx context.Context, id string, opts LogsOptions, fn func(LogChunk) error) error {
	c.sub.mu.Lock()
	lj := c.sub.live[id]
	c.sub.mu.Unlock()
	if lj == nil {
		if _, err := c.GetJob(ctx, id); err != nil {
			return err
		}
	}
	var live *jobLog
	if opts.Follow && lj != nil {
		live = lj.out
	}
	return readLog(ctx, logPath(c.sub.logs, id), live, fn)
}

// Drain stops accepting jobs (Submit fails with ErrDraining) and waits for
// the submitted jobs to end, or for ctx to end (then it returns ctx's
// error and the jobs go on).
func (c *Core) Drain(ctx context.Context) error {
	c.sub.mu.Lock()
	c.sub.draining = true
	c.sub.mu.Unlock()
	done := make(chan struct{})
	go func() {
		c.sub.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Detach stops accepting jobs and leaves the running ones to the next
// Recover: their containers go on, nothing is stopped or removed. Queued
// jobs end failed (ErrInterrupted). It returns once its background work
// for them has stopped. Close detaches what is still running.
func (c *Core) Detach() {
	c.sub.mu.Lock()
	c.sub.draining = true
	c.sub.mu.Unlock()
	c.sub.detach()
	c.sub.wg.Wait()
}
