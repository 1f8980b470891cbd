package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Errors of the core. Test them with errors.Is.
var (
	// ErrInvalidJob: the job is malformed (no image, bad env entry,
	// negative timeout, ...). It also wraps runtime.ErrInvalidArgument.
	ErrInvalidJob = errors.New("invalid job")
	// ErrQueueTimeout: no job slot became free within the queue wait
	// timeout. Retryable.
	ErrQueueTimeout = errors.New("timed out waiting for a job slot")
	// ErrWorkItemBusy: another job of the same (project, work item) kept
	// running past the work-item wait timeout. Retryable.
	ErrWorkItemBusy = errors.New("work item busy")
	// ErrUnknownRuntime: the job names a runtime the core does not know.
	ErrUnknownRuntime = errors.New("unknown runtime")
	// ErrClosed: the core has been closed.
	ErrClosed = errors.New("core closed")
)

// Retryable reports whether err is a transient condition worth retrying.
func Retryable(err error) bool {
	return errors.Is(err, ErrQueueTimeout) || errors.Is(err, ErrWorkItemBusy) ||
		errors.Is(err, runtime.ErrUnavailable)
}

// RuntimeSet gives the core the runtimes jobs may name.
type RuntimeSet interface {
	// Runtime returns the runtime called name, starting it if needed; it
	// gives up when ctx is done. It returns an error wrapping
	// ErrUnknownRuntime for a name it lacks.
	Runtime(ctx context.Context, name string) (runtime.Runtime, error)
	// Names lists the runtimes known, default first.
	Names() []string
}

// Policy is the snapshot policy, global or (through ProjectPolicy) per
// project.
type Policy struct {
	// Enabled turns snapshots on for jobs that name a work item.
	Enabled bool
	// TTL is how long a snapshot may be reused after it was made; 0 means
	// forever.
	TTL time.Duration
	// MaxCount caps the number of snapshots kept (0: no cap).
	MaxCount int
	// MaxBytes caps their total size in bytes (0: no cap).
	MaxBytes int64
	// LayerLimit is the most layers a snapshot may have; a commit that
	// would exceed it is squashed (or the work item starts afresh if the
	// runtime cannot squash). 0 means the default, 100.
	LayerLimit int
	// NeverCommitEnv are env keys that are never written into a snapshot
	// image's config, as if they were secret env.
	NeverCommitEnv []string
}

// ProjectPolicy overrides the global policy for one project. Nil or zero
// fields inherit.
type ProjectPolicy struct {
	Enabled *bool
	TTL     *time.Duration
}

// Config configures a Core.
type Config struct {
	// StateDir holds the state database, the locks and the logs. Required.
	StateDir string
	// Store names the state database: "" (or "sqlite") for the SQLite
	// database in StateDir, a postgres:// URL for a PostgreSQL database,
	// whose schema Open makes or migrates. State directories (hosts) on one
	// PostgreSQL database are a cluster: each keeps its own jobs and images,
	// and a work item runs on one host at a time.
	Store string
	// ClusterMaxConcurrent caps the jobs running at once on all the hosts
	// of the Store's PostgreSQL database together (0: no cap), besides
	// MaxConcurrent on each. Ignored on SQLite.
	ClusterMaxConcurrent int
	// Registry, when set ("host[:port]/repository"), shares each work
	// item's newest snapshot with the other hosts of the Store through
	// this OCI registry: a commit is pushed there, and a host whose own
	// snapshot is older pulls it by digest before the job runs (falling
	// back to the base image if the pull fails). Runtimes without
	// runtime.CapRegistry keep their snapshots to themselves.
	Registry string
	// RegistryOptions say how to reach Registry (credentials; plain HTTP
	// or an unverified certificate, needed for no loopback registry).
	RegistryOptions runtime.RegistryOptions
	// Runtimes are the runtimes jobs may name. Required.
	Runtimes RuntimeSet
	// DefaultRuntime is used by jobs that name none.
	DefaultRuntime string
	// Policy is the global snapshot policy.
	Policy Policy
	// Projects are per-project overrides, by project ID.
	Projects map[string]ProjectPolicy
	// MaxConcurrent caps the jobs running at once across every process
	// sharing StateDir (0: no cap). Jobs get their slot first come, first
	// served.
	MaxConcurrent int
	// QueueTimeout bounds the wait for a job slot (0: wait as long as ctx);
	// after it Run fails with ErrQueueTimeout.
	QueueTimeout time.Duration
	// WorkItemTimeout bounds the wait for an earlier job of the same work
	// item (0: wait as long as ctx).
	WorkItemTimeout time.Duration
	// StopGrace is the grace period between the stop signal and the kill
	// on timeout or cancel (0: 10s).
	StopGrace time.Duration
	// OrphanGrace is how old a managed container without a live job must
	// be before a sweep removes it (0: 1m).
	OrphanGrace time.Duration
	// GCInterval runs Sweep on a timer when > 0 (for long-running use).
	GCInterval time.Duration
	// Logger receives structured logs (nil: discard).
	Logger *slog.Logger
	// Metrics receives counters (nil: discard).
	Metrics Metrics
	// Now is the clock (nil: time.Now). Tests set it.
	Now func() time.Time
	// OnEvent, when set, is told of every change of a submitted job, of
	// every snapshot committed or evicted, and of every sweep that ended
	// (EventGCDone). It is called synchronously and must return quickly.
	OnEvent func(Event)
	// JobHistory caps the ended job records kept (with their logs) for
	// GetJob, ListJobs and JobLogs; the oldest go first (0: 1000).
	JobHistory int
	// ReattachGrace is how long the container of a submitted job whose
	// owner died is left for a restarted owner to take over (Recover)
	// before a sweep may reap it as an orphan (0: 24h). Its deadline, when
	// it has one, still ends it earlier.
	ReattachGrace time.Duration
}

// Metrics receives the core's counters. Implementations must be safe for
// concurrent use. The CLI publishes them as Prometheus metrics.
type Metrics interface {
	// Add adds delta to the counter called name (see the Metric* names).
	Add(name string, delta float64)
}

// Counter names passed to Metrics.Add.
const (
	MetricJobs           = "jobs_total"
	MetricHits           = "snapshot_hits_total"
	MetricMisses         = "snapshot_misses_total"
	MetricCommits        = "commits_total"
	MetricCommitFailures = "commit_failures_total"
	MetricEvictions      = "evictions_total"
	MetricBytesReclaimed = "bytes_reclaimed_total"
	MetricOrphans        = "orphans_removed_total"
	// Snapshots shared through a registry (Config.Registry).
	MetricPushes       = "snapshot_pushes_total"
	MetricPushFailures = "snapshot_push_failures_total"
	MetricPulls        = "snapshot_pulls_total"
	MetricPullFailures = "snapshot_pull_failures_total"
)

// Job is one unit of work to run in a container.
type Job struct {
	// Runtime names the runtime; empty means Config.DefaultRuntime.
	Runtime string
	// Image is the base image reference. Required.
	Image string
	// Cmd is the command to run. Required.
	Cmd []string
	// Env and SecretEnv are KEY=VALUE entries. Secret values never reach a
	// snapshot image.
	Env       []string
	SecretEnv []string
	// Labels are added to the container (and the snapshot image).
	Labels map[string]string
	// Project defaults to "default". WorkItem enables snapshots.
	Project  string
	WorkItem string
	// Timeout bounds the job's run (0: none). On timeout the container is
	// stopped with Config.StopGrace and nothing is committed.
	Timeout time.Duration
	// MemoryBytes and NanoCPUs limit the container (0: none).
	MemoryBytes int64
	NanoCPUs    int64
	// Snapshot overrides the policy's Enabled for this job when non-nil.
	Snapshot *bool
	// Stdout and Stderr receive the job's output as it comes (nil: discard).
	Stdout io.Writer `json:"-"`
	Stderr io.Writer `json:"-"`
	// OnPhase, when set, is called with PhaseCommit before a snapshot
	// commit and PhaseCleanup after it. A CLI uses it to show the progress
	// of long commits. It must return quickly.
	OnPhase func(phase string) `json:"-"`
}

// The phases reported to Job.OnPhase.
const (
	PhaseCommit  = "commit"
	PhaseCleanup = "cleanup"
)

// SnapshotEnv is the variable set in a job's environment: "1" when it runs
// on a snapshot, "0" when it runs on the base image.
const SnapshotEnv = "BERTH_SNAPSHOT"

// Result is what happened to a job.
type Result struct {
	JobID     string `json:"job_id"`
	Runtime   string `json:"runtime"`
	Project   string `json:"project"`
	WorkItem  string `json:"work_item,omitempty"`
	ExitCode  int    `json:"exit_code"`
	TimedOut  bool   `json:"timed_out"`
	Cancelled bool   `json:"cancelled"`
	OOMKilled bool   `json:"oom_killed"`
	// Image is the image the job ran from; Hit says it was a snapshot.
	Image string `json:"image"`
	Hit   bool   `json:"snapshot_hit"`
	// Reason says why the job ran on a snapshot or on the base image.
	Reason SnapshotReason `json:"snapshot_reason"`
	// Pulled says the snapshot was pulled from the registry (Config.Registry)
	// for the job: another host made it.
	Pulled bool `json:"pulled,omitempty"`
	// Commit says whether a snapshot was committed, or why not.
	Commit CommitResult `json:"commit"`
	// Durations of each phase.
	Durations Durations `json:"durations"`
}

// CommitResult reports the commit after a job.
type CommitResult struct {
	Committed  bool           `json:"committed"`
	Reason     NoCommitReason `json:"reason,omitempty"` // why not
	Error      string         `json:"error,omitempty"`  // the commit's error, if it failed
	Image      string         `json:"image,omitempty"`
	ImageID    string         `json:"image_id,omitempty"`
	Generation int            `json:"generation,omitempty"`
	Layers     int            `json:"layers,omitempty"`
	Size       int64          `json:"size,omitempty"`
	Squashed   bool           `json:"squashed,omitempty"`
	// Pending: the job's container exited and its commit runs (a submitted
	// job's record, between EventJobCommitting and EventJobExited).
	Pending bool `json:"pending,omitempty"`
	// Digest is the committed snapshot's manifest digest in the registry
	// (Config.Registry), once pushed; PushError says why the push failed
	// (the snapshot then stays this host's own).
	Digest    string `json:"digest,omitempty"`
	PushError string `json:"push_error,omitempty"`
}

// Durations of a job's phases.
type Durations struct {
	Queue   time.Duration `json:"queue"`
	Select  time.Duration `json:"select"`
	Start   time.Duration `json:"start"`
	Run     time.Duration `json:"run"`
	Commit  time.Duration `json:"commit"`
	Cleanup time.Duration `json:"cleanup"`
	Total   time.Duration `json:"total"`
}

// Snapshot is a stored snapshot of a work item.
type Snapshot struct {
	Runtime    string    `json:"runtime"`
	Project    string    `json:"project"`
	WorkItem   string    `json:"work_item"`
	Image      string    `json:"image"`
	ImageID    string    `json:"image_id"`
	BaseImage  string    `json:"base_image"`
	Size       int64     `json:"size_bytes"`
	Layers     int       `json:"layers"`
	Generation int       `json:"generation"`
	Created    time.Time `json:"created"`
	LastUsed   time.Time `json:"last_used"`
	// Expires is when the snapshot's TTL (its project's, else the global
	// one) ends: it is not reused after, and the next sweep evicts it.
	// Zero when the TTL is 0 (forever).
	Expires time.Time `json:"expires,omitzero"`
}

// SweepOptions tune a sweep.
type SweepOptions struct {
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// OrphanGrace overrides Config.OrphanGrace when > 0.
	OrphanGrace time.Duration
}

// SweepReport says what a sweep removed (or would remove, in a dry run).
type SweepReport struct {
	DryRun            bool       `json:"dry_run"`
	Evicted           []Snapshot `json:"evicted"`            // TTL, count, size
	DroppedEntries    []Snapshot `json:"dropped_entries"`    // image gone
	AdoptedImages     []string   `json:"adopted_images"`     // managed, unknown, complete labels
	RemovedImages     []string   `json:"removed_images"`     // berth's references to images it no longer wants
	RemovedContainers []string   `json:"removed_containers"` // orphans
	Skipped           []string   `json:"skipped"`            // in use, retried next sweep
	// EvictedShared are the shared snapshots (Config.Registry) over their
	// project's TTL, forgotten and deleted from the registry, by
	// reference ("registry/repository@digest").
	EvictedShared  []string `json:"evicted_shared,omitempty"`
	BytesReclaimed int64    `json:"bytes_reclaimed"`
}
