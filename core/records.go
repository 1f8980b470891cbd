package core

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Errors of the job records (Submit and the calls after it).
var (
	// ErrJobNotFound: no job has that ID (or its record was evicted).
	ErrJobNotFound = errors.New("job not found")
	// ErrDraining: the Core no longer accepts jobs (Drain or Detach was
	// called). Retryable elsewhere.
	ErrDraining = errors.New("not accepting jobs: shutting down")
	// ErrInterrupted: berth stopped between recording a job and starting
	// its container; the job never ran. Retryable.
	ErrInterrupted = errors.New("berth stopped before the job started")
	// ErrLost: the job's container was gone when berth came back to it;
	// its end is unknown.
	ErrLost = errors.New("job's container lost")
)

// JobState is where a submitted job stands.
type JobState string

// The states of a submitted job. Queued and running jobs are live; the
// others are ended and final.
const (
	JobQueued    JobState = "queued"    // recorded, waiting for its runtime, work item or a slot
	JobRunning   JobState = "running"   // its container started
	JobExited    JobState = "exited"    // its container ran to its end (any exit code, or timed out)
	JobFailed    JobState = "failed"    // berth could not run it (see JobRecord.Error)
	JobCancelled JobState = "cancelled" // cancelled before or while it ran
)

// Ended reports whether s is final.
func (s JobState) Ended() bool { return s == JobExited || s == JobFailed || s == JobCancelled }

// ErrorKind names an error's class in a stable word, for records, APIs and
// clients that cannot use errors.Is.
type ErrorKind string

// The error kinds. Their values are a contract.
const (
	KindInvalidJob     ErrorKind = "invalid-job"
	KindUnknownRuntime ErrorKind = "unknown-runtime"
	KindQueueTimeout   ErrorKind = "queue-timeout"
	KindWorkItemBusy   ErrorKind = "work-item-busy"
	KindUnavailable    ErrorKind = "engine-unavailable"
	KindNotFound       ErrorKind = "not-found"
	KindJobNotFound    ErrorKind = "job-not-found"
	KindCancelled      ErrorKind = "cancelled"
	KindInterrupted    ErrorKind = "interrupted"
	KindLost           ErrorKind = "lost"
	KindDraining       ErrorKind = "draining"
	KindClosed         ErrorKind = "closed"
	KindInternal       ErrorKind = "internal"
)

// kinds maps each kind to its error, checked in order by KindOf.
var kinds = []struct {
	kind ErrorKind
	err  error
}{
	{KindInvalidJob, ErrInvalidJob},
	{KindUnknownRuntime, ErrUnknownRuntime},
	{KindQueueTimeout, ErrQueueTimeout},
	{KindWorkItemBusy, ErrWorkItemBusy},
	{KindJobNotFound, ErrJobNotFound},
	{KindInterrupted, ErrInterrupted},
	{KindLost, ErrLost},
	{KindDraining, ErrDraining},
	{KindClosed, ErrClosed},
	{KindUnavailable, runtime.ErrUnavailable},
	{KindNotFound, runtime.ErrNotFound},
	{KindCancelled, errCancelled},
}

// errCancelled stands for context.Canceled and DeadlineExceeded in kinds.
var errCancelled = errors.New("cancelled")

// KindOf returns the kind of err ("" for nil).
func KindOf(err error) ErrorKind {
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	if isCtxErr(err) {
		return KindCancelled
	}
	return KindInternal
}

// Err returns the error kind k stands for, to wrap an error read back from
// a record or an API so that errors.Is works on it as on the original.
// KindCancelled gives context.Canceled; an unknown kind gives nil.
func (k ErrorKind) Err() error {
	if k == KindCancelled {
		return contextCanceled
	}
	for _, e := range kinds {
		if e.kind == k {
			return e.err
		}
	}
	return nil
}

// JobSpec is a job as recorded: everything in Job but the values of its
// secret env (only their keys are kept) and its output writers.
type JobSpec struct {
	Runtime     string            `json:"runtime"`
	Image       string            `json:"image"`
	Cmd         []string          `json:"cmd"`
	Project     string            `json:"project"`
	WorkItem    string            `json:"work_item,omitempty"`
	Snapshot    *bool             `json:"snapshot,omitempty"`
	Env         []string          `json:"env,omitempty"`
	SecretKeys  []string          `json:"secret_env_keys,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Timeout     time.Duration     `json:"timeout,omitempty"`
	MemoryBytes int64             `json:"memory_bytes,omitempty"`
	NanoCPUs    int64             `json:"nano_cpus,omitempty"`
}

// JobRecord is a submitted job: its spec, its state and, once it ended,
// its result. Records outlive the process that ran the job until they are
// evicted (Config.JobHistory).
type JobRecord struct {
	ID             string    `json:"id"`
	State          JobState  `json:"state"`
	Spec           JobSpec   `json:"spec"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Created        time.Time `json:"created"`
	Started        time.Time `json:"started,omitzero"` // its container started
	// Exited is when its container exited, once a commit follows: from
	// then on Result holds the exit code, output and durations, its
	// Commit.Pending set until the commit ends (and the job with it).
	Exited time.Time `json:"exited,omitzero"`
	Ended  time.Time `json:"ended,omitzero"`
	// Result is what happened, once the job ended (a job that failed
	// before its container ran has a partial one).
	Result *Result `json:"result,omitempty"`
	// Error and ErrorKind say why berth could not run the job (state
	// failed or cancelled).
	Error     string    `json:"error,omitempty"`
	ErrorKind ErrorKind `json:"error_kind,omitempty"`
	// Reattached counts the times a restarted berth took the running job
	// over from a process that died.
	Reattached int `json:"reattached,omitempty"`
}

// JobFilter selects job records; zero fields match all.
type JobFilter struct {
	State    JobState
	Project  string
	WorkItem string
	// Limit caps the records returned, newest first (0: all).
	Limit int
}

// SubmitOptions tune Submit.
type SubmitOptions struct {
	// IdempotencyKey, when set, makes a second Submit with the same key
	// return the first one's record instead of a new job.
	IdempotencyKey string
}

// Stream names an output stream of a job.
type Stream int

// The output streams.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// String returns "stdout" or "stderr".
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// LogChunk is a piece of a job's output, in the order it was written.
type LogChunk struct {
	Stream Stream
	Data   []byte
}

// LogsOptions tune JobLogs.
type LogsOptions struct {
	// Follow keeps streaming until the job ends (or ctx is done).
	Follow bool
}

// EventType names what an Event reports.
type EventType string

// The events a Core reports (Config.OnEvent).
const (
	EventJobQueued         EventType = "job.queued"
	EventJobStarted        EventType = "job.started"
	EventJobCommitting     EventType = "job.committing" // its container exited 0 and its commit runs: the exit code and output are final
	EventJobExited         EventType = "job.exited"     // ended: exited, failed or cancelled (see the record's state)
	EventSnapshotCommitted EventType = "snapshot.committed"
	EventSnapshotEvicted   EventType = "snapshot.evicted"
	EventGCDone            EventType = "gc.done" // a sweep ended (Event.GC)
)

// Event is a change of a job or a snapshot, or a sweep that ended.
type Event struct {
	Type     EventType  `json:"type"`
	Time     time.Time  `json:"time"`
	Job      *JobRecord `json:"job,omitempty"`
	Snapshot *Snapshot  `json:"snapshot,omitempty"`
	GC       *SweepRun  `json:"gc,omitempty"`
}

// SweepTrigger says what started a sweep.
type SweepTrigger string

// The triggers of a sweep.
const (
	SweepOnTimer   SweepTrigger = "timer"   // every Config.GCInterval
	SweepOnRequest SweepTrigger = "request" // a call of Sweep (berth gc, POST /v1/gc)
)

// SweepRun is a sweep that ended, as EventGCDone reports it.
type SweepRun struct {
	Started time.Time    `json:"started"`
	Ended   time.Time    `json:"ended"`
	Trigger SweepTrigger `json:"trigger"`
	Report  SweepReport  `json:"report"`
	// Error is why part of the sweep failed (a runtime that could not be
	// reached, say); what the report lists was done all the same.
	Error string `json:"error,omitempty"`
}

// RecoverReport says what Recover found.
type RecoverReport struct {
	// Reattached are the jobs whose running or exited container this Core
	// took over; their waits, commits and clean-ups go on in the
	// background.
	Reattached []string `json:"reattached"`
	// Failed are jobs that could not go on: never started (ErrInterrupted)
	// or their container gone (ErrLost).
	Failed []string `json:"failed"`
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

var contextCanceled = context.Canceled
