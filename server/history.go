package server

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// Bounds of the history the server keeps in memory (GET /v1/gc/runs, GET
// /v1/disk); a restart loses it.
const (
	// GCRuns is how many gc runs the server keeps.
	GCRuns = 100
	// DiskSamples is how many samples of the disk used it keeps.
	DiskSamples = 1440
	// DiskSampleSpacing is the least time between two samples kept but
	// for the newest: a sample taken sooner after the one before the last
	// replaces the last.
	DiskSampleSpacing = time.Minute
	// DefaultDiskSampleInterval is how often the server samples the disk
	// used besides after the changes it sees.
	DefaultDiskSampleInterval = 5 * time.Minute
)

// gcRuns keeps the last GCRuns gc runs. Its methods are safe for
// concurrent use.
type gcRuns struct {
	mu   sync.Mutex
	ring []api.GCRun // oldest at ring[start] once full
	next int
}

func (g *gcRuns) add(run api.GCRun) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ring) < GCRuns {
		g.ring = append(g.ring, run)
		return
	}
	g.ring[g.next] = run
	g.next = (g.next + 1) % GCRuns
}

// list returns the runs, newest first.
func (g *gcRuns) list() []api.GCRun {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]api.GCRun, 0, len(g.ring))
	for i := range g.ring {
		out = append(out, g.ring[(g.next+len(g.ring)-1-i)%len(g.ring)])
	}
	return out
}

// diskHistory samples the disk the snapshots use, per project: once at
// the start, after each change kick reports, and every interval. A sample
// runs in a goroutine of its own that ends with it (kicks that come
// meanwhile make it sample once more); no goroutine waits between samples.
type diskHistory struct {
	ctx      context.Context // done: no more samples
	snaps    func(ctx context.Context) ([]core.Snapshot, error)
	onErr    func(error)
	interval time.Duration
	spacing  time.Duration
	size     int

	mu      sync.Mutex
	samples []api.DiskSample // oldest first
	busy    bool             // a sample is being taken
	again   bool             // kicked while busy
	timer   *time.Timer      // the next timed sample
	stopped bool
	wg      sync.WaitGroup
}

func newDiskHistory(ctx context.Context, snaps func(context.Context) ([]core.Snapshot, error), interval time.Duration, onErr func(error)) *diskHistory {
	return &diskHistory{ctx: ctx, snaps: snaps, onErr: onErr, interval: interval,
		spacing: DiskSampleSpacing, size: DiskSamples}
}

// kick asks for a sample soon.
func (h *diskHistory) kick() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	if h.busy {
		h.again = true
		return
	}
	h.busy = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.wg.Add(1)
	go h.run()
}

// run takes samples until no kick is pending, then sets the timer.
func (h *diskHistory) run() {
	defer h.wg.Done()
	for {
		h.sample()
		h.mu.Lock()
		if h.again && !h.stopped {
			h.again = false
			h.mu.Unlock()
			continue
		}
		h.busy = false
		if !h.stopped {
			h.timer = time.AfterFunc(h.interval, h.kick)
		}
		h.mu.Unlock()
		return
	}
}

// sample reads the snapshots and records their sizes.
func (h *diskHistory) sample() {
	snaps, err := h.snaps(h.ctx)
	if err != nil {
		if h.ctx.Err() == nil {
			h.onErr(err)
		}
		return
	}
	s := api.DiskSample{Time: time.Now(), Projects: []api.ProjectUsage{}}
	byName := map[string]int{} // index in s.Projects
	for _, sn := range snaps {
		i, ok := byName[sn.Project]
		if !ok {
			i = len(s.Projects)
			byName[sn.Project] = i
			s.Projects = append(s.Projects, api.ProjectUsage{Project: sn.Project})
		}
		s.Projects[i].SizeBytes += sn.Size
		s.Projects[i].Snapshots++
		s.SizeBytes += sn.Size
		s.Snapshots++
	}
	slices.SortFunc(s.Projects, func(a, b api.ProjectUsage) int { return cmp.Compare(a.Project, b.Project) })
	h.add(s)
}

// add records s: it replaces the newest sample when the one before it is
// less than spacing older than s, so that every sample but the newest is
// spacing or more after the one before.
func (h *diskHistory) add(s api.DiskSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.samples); n >= 2 && s.Time.Sub(h.samples[n-2].Time) < h.spacing {
		h.samples[n-1] = s
		return
	}
	if len(h.samples) == h.size {
		h.samples = slices.Delete(h.samples, 0, 1)
	}
	h.samples = append(h.samples, s)
}

func (h *diskHistory) list() []api.DiskSample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.samples)
}

// stop ends the sampling: it stops the timer and waits for a sample being
// taken (ctx, done by then, cuts it short).
func (h *diskHistory) stop() {
	h.mu.Lock()
	h.stopped = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// observe records the gc runs and samples the disk after the changes.
func (s *Server) observe(e core.Event) {
	switch e.Type {
	case core.EventGCDone:
		if e.GC != nil {
			s.gcRuns.add(apiGCRun(*e.GC))
		}
		s.disk.kick()
	case core.EventSnapshotCommitted, core.EventSnapshotEvicted:
		s.disk.kick()
	}
}

func (s *Server) listGCRuns(w http.ResponseWriter, r *http.Request) {
	ok(w, api.GCRunList{Runs: s.gcRuns.list()})
}

func (s *Server) diskUsage(w http.ResponseWriter, r *http.Request) {
	ok(w, api.DiskUsage{Samples: nonNil(s.disk.list())})
}

// apiGCRun is the API's form of a sweep that ended.
func apiGCRun(run core.SweepRun) api.GCRun {
	out := api.GCRun{Started: run.Started, Ended: run.Ended, Trigger: api.GCRunTrigger(run.Trigger),
		Report: apiSweepReport(run.Report)}
	if run.Error != "" {
		out.Error = &run.Error
	}
	return out
}
