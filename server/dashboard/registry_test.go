package dashboard_test

import (
	"context"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// What a core sharing its snapshots through a registry
// (core.Config.Registry) adds to its results, faked for the browser test
// (hooks): the fake runtime has no registry here.
const (
	sharedDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	sharedRef    = "registry.example:5000/berth/snapshots@" + sharedDigest
	pushFailure  = "push registry.example:5000/berth/snapshots: engine unavailable"
)

// shared returns rec as a registry would have made it: the job of work
// item "pulled" ran on a snapshot pulled from the registry and its commit
// was pushed; that of "pull-failed" could not pull the newer snapshot and
// its push failed. rec itself is left alone.
func shared(rec core.JobRecord) core.JobRecord {
	if rec.Result == nil {
		return rec
	}
	res := *rec.Result
	switch res.WorkItem {
	case "pulled":
		res.Hit, res.Reason, res.Pulled = true, core.ReasonHit, true
		res.Commit.Digest = sharedDigest
	case "pull-failed":
		res.Hit, res.Reason = false, core.ReasonPullFailed
		res.Commit.PushError = pushFailure
	}
	rec.Result = &res
	return rec
}

// sharedCore is a server.Core whose job records are shared's.
type sharedCore struct{ server.Core }

func (c sharedCore) GetJob(ctx context.Context, id string) (core.JobRecord, error) {
	rec, err := c.Core.GetJob(ctx, id)
	return shared(rec), err
}

func (c sharedCore) ListJobs(ctx context.Context, f core.JobFilter) ([]core.JobRecord, error) {
	recs, err := c.Core.ListJobs(ctx, f)
	for i := range recs {
		recs[i] = shared(recs[i])
	}
	return recs, err
}

// sharedEvent is ev with its job shared's, and a gc run that evicted (or,
// in a dry run, would evict) a shared snapshot.
func sharedEvent(ev core.Event) core.Event {
	if ev.Job != nil {
		rec := shared(*ev.Job)
		ev.Job = &rec
	}
	if ev.GC != nil {
		run := *ev.GC
		run.Report.EvictedShared = []string{sharedRef}
		ev.GC = &run
	}
	return ev
}
