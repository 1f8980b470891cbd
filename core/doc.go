// Package core is berth's core: it runs jobs in containers through a
// runtime.Runtime and owns every policy around them. Drivers (package
// runtime and its implementations) carry out operations; the core decides
// what to run, what to keep and what to clean up.
//
// # Jobs and snapshots
//
// Run runs a Job: a command on a base image, with env, secret env, labels,
// limits, a timeout, and optionally a project and a work item. When a job
// of a work item exits 0, the core commits its container to an image, a
// snapshot; the next job of the same (runtime, project, work item) starts
// from the snapshot instead of the base image, and sees BERTH_SNAPSHOT=1
// in its environment (0 on the base image). A snapshot is used when
// snapshots are enabled (Policy.Enabled, overridden by ProjectPolicy and
// Job.Snapshot), it is younger than the effective TTL (the project's if
// set), its image still exists, and it was made from the same base image
// (same reference and same image ID). Result.Reason says why a job ran on
// its snapshot or not.
//
// Nothing is committed after a non-zero exit, a timeout, a cancel, a wait
// error, or without a work item. Secret env and Policy.NeverCommitEnv keys
// go to the driver as ContainerSpec.SecretEnv, which never reaches an
// image. Snapshot images are named
// "berth/<project>-<work item>-<hash>:g<generation>": readable slugs, and a
// hash over the exact instance, runtime, project and work item that keeps
// names apart whatever the IDs contain. They carry the labels
// io.berth.managed-by, io.berth.instance, io.berth.project,
// io.berth.work-item, io.berth.generation, io.berth.base-image and
// io.berth.job. A new generation replaces the previous one, whose image is
// removed (or left to the sweep while in use). Layers are counted: a commit
// that would pass Policy.LayerLimit is squashed when the runtime can
// (runtime.CapSquash), else the work item starts afresh from the base.
// A failed commit never fails the job; it is reported in Result.Commit.
//
// # Concurrency
//
// Jobs of one (project, work item) run one at a time, across processes too:
// each takes a flock'd file under the state directory, waiting up to
// Config.WorkItemTimeout (ErrWorkItemBusy). Config.MaxConcurrent caps the
// jobs running at once across every Core (in this process or another) on
// the state directory: first come, first served, waiting up to
// Config.QueueTimeout (ErrQueueTimeout); a process that dies, waiting or
// running, frees its place. The slot is taken before the container is made. The
// container is always removed when the job ends, however it ends.
//
// # State and recovery
//
// The state (snapshots, jobs in flight, the instance ID) is a SQLite
// database in Config.StateDir (package core/internal/store); several processes may
// share it. The instance ID belongs to the directory (a file beside the
// database, so that it outlives a lost database). A job's owner holds a
// lock on the job's own file for the job's whole life, so that a sweep can
// tell a live job's container, which it never touches, from an orphan left
// by a process that died, across PID namespaces too. Each runtime is
// reconciled with the state the first time a Core uses it, and at every
// Sweep: orphan containers are removed (at once past the job's recorded
// deadline plus the stop grace, else after Config.OrphanGrace), entries
// whose image is gone dropped, lost snapshot images with complete labels
// adopted, and berth's other references the state does not record
// removed. berth removes only what it made: image references of its own
// naming and containers named after a job it recorded; every removal is
// decided under the work item's lock from the state as it is then.
//
// # Eviction
//
// Sweep (on demand, and every Config.GCInterval) also evicts snapshots past
// their project's TTL, then the least recently used while there are more
// than Policy.MaxCount or they weigh more than Policy.MaxBytes. An image in
// use is skipped and retried at the next sweep. Invalidate forgets one work
// item's snapshots.
//
// # Observability
//
// The core logs with log/slog (Config.Logger) and counts jobs, hits,
// misses, commits, commit failures, evictions, bytes reclaimed and orphans
// removed, through Config.Metrics and Counters.
package core
