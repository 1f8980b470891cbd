package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
)

func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) {
	snaps, err := s.core.Snapshots(r.Context(), r.URL.Query().Get("project"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, api.SnapshotList{Snapshots: apiSnapshots(snaps)})
}

func (s *Server) deleteSnapshots(w http.ResponseWriter, r *http.Request) {
	removed, err := s.core.Invalidate(r.Context(), r.PathValue("project"), r.PathValue("work_item"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, api.RemovedSnapshots{Removed: apiSnapshots(removed)})
}

// deleteProjectSnapshots invalidates each work item of the project that has
// a snapshot.
func (s *Server) deleteProjectSnapshots(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	snaps, err := s.core.Snapshots(r.Context(), project)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var removed []core.Snapshot
	done := map[string]bool{}
	for _, sn := range snaps {
		if done[sn.WorkItem] {
			continue
		}
		done[sn.WorkItem] = true
		gone, err := s.core.Invalidate(r.Context(), project, sn.WorkItem)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		removed = append(removed, gone...)
	}
	if len(removed) == 0 {
		s.problem(w, r, http.StatusNotFound, string(core.KindNotFound), "no snapshot of project "+strconv.Quote(project))
		return
	}
	ok(w, api.RemovedSnapshots{Removed: apiSnapshots(removed)})
}

// forkSnapshot gives work item to the newest snapshot of work item from
// (core.Fork) and answers 201 with to's new snapshot; 501 when the
// snapshot's runtime cannot copy images.
func (s *Server) forkSnapshot(w http.ResponseWriter, r *http.Request) {
	var req api.ForkRequest
	if !s.decode(w, r, &req, api.KindInvalidRequest, false) {
		return
	}
	if req.From.WorkItem == "" || req.To.WorkItem == "" {
		s.invalid(w, r, api.KindInvalidRequest, "from.work_item and to.work_item are required")
		return
	}
	sn, err := s.core.Fork(r.Context(), workItem(req.From), workItem(req.To))
	if errors.Is(err, errors.ErrUnsupported) {
		s.problem(w, r, http.StatusNotImplemented, api.KindNotSupported, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, "application/json", apiSnapshot(sn))
}

func workItem(ref api.WorkItemRef) core.WorkItem {
	return core.WorkItem{Project: deref(ref.Project), WorkItem: ref.WorkItem}
}

func (s *Server) gc(w http.ResponseWriter, r *http.Request) {
	var req api.GCRequest
	if !s.decode(w, r, &req, api.KindInvalidRequest, true) {
		return
	}
	opts := core.SweepOptions{DryRun: deref(req.DryRun)}
	if q := r.URL.Query().Get("dry_run"); q != "" {
		d, err := strconv.ParseBool(q)
		if err != nil {
			s.invalid(w, r, api.KindInvalidRequest, "dry_run %q: want true or false", q)
			return
		}
		opts.DryRun = opts.DryRun || d
	}
	if req.OrphanGrace != nil {
		g, err := time.ParseDuration(*req.OrphanGrace)
		if err != nil || g < 0 {
			s.invalid(w, r, api.KindInvalidRequest, "orphan_grace %q: want a duration such as 1m", *req.OrphanGrace)
			return
		}
		// The core reads 0 as "the configured grace": the smallest
		// positive grace stands for none (as berth gc --orphan-grace 0).
		opts.OrphanGrace = max(g, time.Nanosecond)
	}
	rep, err := s.core.Sweep(r.Context(), opts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, apiSweepReport(rep))
}

func apiSweepReport(rep core.SweepReport) api.SweepReport {
	return api.SweepReport{
		DryRun:            rep.DryRun,
		Evicted:           apiSnapshots(rep.Evicted),
		DroppedEntries:    apiSnapshots(rep.DroppedEntries),
		AdoptedImages:     nonNil(rep.AdoptedImages),
		RemovedImages:     nonNil(rep.RemovedImages),
		RemovedContainers: nonNil(rep.RemovedContainers),
		Skipped:           nonNil(rep.Skipped),
		EvictedShared:     rep.EvictedShared,
		BytesReclaimed:    rep.BytesReclaimed,
	}
}

func apiSnapshots(snaps []core.Snapshot) []api.Snapshot {
	out := make([]api.Snapshot, len(snaps))
	for i, sn := range snaps {
		out[i] = apiSnapshot(sn)
	}
	return out
}

func apiSnapshot(sn core.Snapshot) api.Snapshot {
	return api.Snapshot{
		Runtime:    sn.Runtime,
		Project:    sn.Project,
		WorkItem:   sn.WorkItem,
		Image:      sn.Image,
		ImageId:    sn.ImageID,
		BaseImage:  sn.BaseImage,
		SizeBytes:  sn.Size,
		Layers:     sn.Layers,
		Generation: sn.Generation,
		Created:    sn.Created,
		LastUsed:   sn.LastUsed,
		Expires:    timeOrNil(sn.Expires),
	}
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
