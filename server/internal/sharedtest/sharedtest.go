// Package sharedtest fakes, for the server's and the dashboard's tests,
// what a core sharing its snapshots through a registry
// (core.Config.Registry) adds to its results: the fake runtime behind
// those tests has no registry.
package sharedtest

import (
	"context"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// What the faked registry answers.
const (
	Digest      = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	Ref         = "registry.example:5000/berth/snapshots@" + Digest
	PushFailure = "push registry.example:5000/berth/snapshots: engine unavailable"
)

// Record returns rec as a registry would have made it: the job of work
// item "pulled" ran on a snapshot pulled from the registry and its commit
// was pushed; that of "pull-failed" could not pull the newer snapshot and
// its push failed. rec itself is left alone.
func Record(rec core.JobRecord) core.JobRecord {
	if rec.Result == nil {
		return rec
	}
	res := *rec.Result
	switch res.WorkItem {
	case "pulled":
		res.Hit, res.Reason, res.Pulled = true, core.ReasonHit, true
		res.Commit.Digest = Digest
	case "pull-failed":
		res.Hit, res.Reason = false, core.ReasonPullFailed
		res.Commit.PushError = PushFailure
	}
	rec.Result = &res
	return rec
}

// Event is ev with its job Record's, and a gc run that evicted (or, in a
// dry run, would evict) a shared snapshot.
func Event(ev core.Event) core.Event {
	if ev.Job != nil {
		rec := Record(*ev.Job)
		ev.Job = &rec
	}
	if ev.GC != nil {
		run := *ev.GC
		run.Report.EvictedShared = []string{Ref}
		ev.GC = &run
	}
	return ev
}

// Core is a server.Core whose job records are Record's and whose sweeps
// (but dry runs) evicted a shared snapshot.
type Core struct{ server.Core }

func (c Core) GetJob(ctx context.Context, id string) (core.JobRecord, error) {
	rec, err := c.Core.GetJob(ctx, id)
	return Record(rec), err
}

func (c Core) WaitJob(ctx context.Context, id string) (core.JobRecord, error) {
	rec, err := c.Core.WaitJob(ctx, id)
	return Record(rec), err
}

func (c Core) ListJobs(ctx context.Context, f core.JobFilter) ([]core.JobRecord, error) {
	recs, err := c.Core.ListJobs(ctx, f)
	for i := range recs {
		recs[i] = Record(recs[i])
	}
	return recs, err
}

func (c Core) Sweep(ctx context.Context, opts core.SweepOptions) (core.SweepReport, error) {
	rep, err := c.Core.Sweep(ctx, opts)
	if err == nil && !opts.DryRun {
		rep.EvictedShared = []string{Ref}
	}
	return rep, err
}
