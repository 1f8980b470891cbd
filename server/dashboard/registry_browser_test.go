package dashboard_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// What a core sharing its snapshots through a registry
// (core.Config.Registry) adds to its results, faked: the fake runtime has
// no registry here.
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

// sharedEvent is ev with its job shared's, and a gc run (but a dry run)
// that evicted a shared snapshot.
func sharedEvent(ev core.Event) core.Event {
	if ev.Job != nil {
		rec := shared(*ev.Job)
		ev.Job = &rec
	}
	if ev.GC != nil && !ev.GC.Report.DryRun {
		run := *ev.GC
		run.Report.EvictedShared = []string{sharedRef}
		ev.GC = &run
	}
	return ev
}

// The page tells a snapshot pulled from the registry, a pull that failed,
// a commit shared or kept by the host, and the shared snapshots a gc run
// evicted.
func TestDashboardShowsSharedSnapshots(t *testing.T) {
	d := newDaemonWith(t, hooks{event: sharedEvent, wrap: func(c server.Core) server.Core { return sharedCore{c} }})
	close(d.rt.gate) // jobs run through
	ctx, con := browser(t)
	dir := artifacts(t)
	t.Cleanup(func() {
		if t.Failed() {
			failure(t, ctx, con, dir)
		}
	})
	pulled := d.run(t, "web", "pulled", "echo x > /f")
	failed := d.run(t, "web", "pull-failed", "echo x > /f")
	_, err := d.c.GC(context.Background(), core.SweepOptions{})
	require.NoError(t, err)

	within(t, ctx, "open the page",
		chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), token+kb.Enter),
		chromedp.WaitVisible(css(`#status[data-state="live"]`)),
		chromedp.WaitVisible(css(`#results tr[data-job="`+pulled.Id+`"]`)),
		chromedp.WaitVisible(css(`#results tr[data-job="`+failed.Id+`"]`)),
		chromedp.WaitVisible(css(`#gc tbody tr`)),
	)
	cell := func(id, name string) string {
		return eval[string](t, ctx, `document.querySelector('#results tr[data-job="`+id+`"] [data-cell="`+name+`"]').textContent`)
	}
	assert.Equal(t, "hit pulled", cell(pulled.Id, "snapshot"))
	assert.Contains(t, cell(pulled.Id, "commit"), "shared")
	assert.NotContains(t, cell(pulled.Id, "commit"), "not shared")
	assert.Equal(t, "miss pull failed", cell(failed.Id, "snapshot"))
	assert.Contains(t, cell(failed.Id, "commit"), "not shared")
	assert.Contains(t, eval[string](t, ctx, `document.querySelector("#gc tbody tr").textContent`), "+1 shared")
	assert.Empty(t, con.errors(), "console errors")

	// Jobs that ended while the page is open come by the event stream.
	live := d.run(t, "web", "pulled", "echo y > /f")
	within(t, ctx, "a job that ended after",
		chromedp.WaitVisible(css(`#results tr[data-job="`+live.Id+`"]`)))
	assert.Equal(t, "hit pulled", cell(live.Id, "snapshot"))
}
