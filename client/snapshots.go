package client

import (
	"context"
	"net/url"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// Snapshots lists the snapshots of project ("" for every project), least
// recently used first, as berth snapshots ls --json prints them.
func (c *Client) Snapshots(ctx context.Context, project string) ([]core.Snapshot, error) {
	q := url.Values{}
	if project != "" {
		q.Set("project", project)
	}
	var list struct {
		Snapshots []core.Snapshot `json:"snapshots"`
	}
	if err := c.call(ctx, request{method: "GET", path: "/v1/snapshots", query: q}, &list); err != nil {
		return nil, err
	}
	return list.Snapshots, nil
}

// DeleteSnapshots removes the snapshots of a work item, or of the whole
// project when workItem is empty, and returns those removed. With none to
// remove the error wraps runtime.ErrNotFound; a work item whose job runs
// past the daemon's wait gives core.ErrWorkItemBusy.
func (c *Client) DeleteSnapshots(ctx context.Context, project, workItem string) ([]core.Snapshot, error) {
	if project == "" {
		project = core.DefaultProject
	}
	path := "/v1/snapshots/" + url.PathEscape(project)
	if workItem != "" {
		path += "/" + url.PathEscape(workItem)
	}
	var out struct {
		Removed []core.Snapshot `json:"removed"`
	}
	if err := c.call(ctx, request{method: "DELETE", path: path}, &out); err != nil {
		return nil, err
	}
	return out.Removed, nil
}

// WorkItem names a work item of a project ("" project: the default one).
type WorkItem = core.WorkItem

func ref(w WorkItem) api.WorkItemRef {
	ref := api.WorkItemRef{WorkItem: w.WorkItem}
	if w.Project != "" {
		ref.Project = &w.Project
	}
	return ref
}

// Fork gives work item to the newest snapshot of work item from, so that
// its next job starts from it, as core.Fork does, and returns to's new
// snapshot. Its errors match core.Fork's: runtime.ErrNotFound when from has
// no snapshot, core.ErrInvalidJob when to is from, errors.ErrUnsupported when
// the snapshot's runtime cannot copy images.
func (c *Client) Fork(ctx context.Context, from, to WorkItem) (core.Snapshot, error) {
	var sn core.Snapshot
	err := c.call(ctx, request{method: "POST", path: "/v1/snapshots/fork",
		body: api.ForkRequest{From: ref(from), To: ref(to)}}, &sn)
	return sn, err
}

// GC sweeps as berth gc does and returns its report, as berth gc --json
// prints it. opts.OrphanGrace > 0 overrides the daemon's orphan grace.
func (c *Client) GC(ctx context.Context, opts core.SweepOptions) (core.SweepReport, error) {
	req := api.GCRequest{DryRun: &opts.DryRun}
	if opts.OrphanGrace > 0 {
		g := opts.OrphanGrace.String()
		req.OrphanGrace = &g
	}
	var rep core.SweepReport
	err := c.call(ctx, request{method: "POST", path: "/v1/gc", body: req}, &rep)
	return rep, err
}

// GCRuns returns the last gc runs of the daemon (its timed sweeps and
// those asked of it, dry runs included), newest first. The daemon keeps
// them in memory: they start again with it.
func (c *Client) GCRuns(ctx context.Context) ([]core.SweepRun, error) {
	var list struct {
		Runs []core.SweepRun `json:"runs"`
	}
	if err := c.call(ctx, request{method: "GET", path: "/v1/gc/runs"}, &list); err != nil {
		return nil, err
	}
	return list.Runs, nil
}

// DiskUsage returns the daemon's samples of the disk its snapshots use,
// per project, oldest first. The daemon keeps them in memory: they start
// again with it.
func (c *Client) DiskUsage(ctx context.Context) ([]api.DiskSample, error) {
	var usage api.DiskUsage
	if err := c.call(ctx, request{method: "GET", path: "/v1/disk"}, &usage); err != nil {
		return nil, err
	}
	return usage.Samples, nil
}

// Runtimes lists the daemon's runtimes, default first, with their
// engines' health.
func (c *Client) Runtimes(ctx context.Context) ([]api.Runtime, error) {
	var list api.RuntimeList
	if err := c.call(ctx, request{method: "GET", path: "/v1/runtimes"}, &list); err != nil {
		return nil, err
	}
	return list.Runtimes, nil
}
