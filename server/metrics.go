package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-dev/berth/core"
)

// namespace prefixes every metric name.
const namespace = "berth"

// scrapeTimeout bounds the core queries of one scrape.
const scrapeTimeout = 10 * time.Second

// metrics are the daemon's Prometheus metrics: the core's counters, what
// the core holds now (jobs queued and running, snapshot bytes per project),
// the phases of ended jobs, the event and log streams, and the requests.
type metrics struct {
	s        *Server
	serve    http.HandlerFunc
	streams  *prometheus.GaugeVec
	requests *prometheus.CounterVec
	phases   *prometheus.HistogramVec
	ended    *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		s: s,
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "streams_open",
			Help: "Log and event streams open now.",
		}, []string{"kind"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route and status.",
		}, []string{"method", "route", "code"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "job_phase_duration_seconds",
			Help:    "Durations of the phases of the jobs that ended (queue, select, start, run, commit, cleanup, total).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"phase"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "jobs_ended_total",
			Help: "Jobs that ended, by final state.",
		}, []string{"state"}),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.streams, m.requests, m.phases, m.ended, stateCollector{s})
	prefixed := prometheus.WrapRegistererWithPrefix(namespace+"_", reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, k := range []string{"logs", "events"} {
		m.streams.WithLabelValues(k)
	}
	m.serve = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}).ServeHTTP
	s.events.observe(m.event)
	return m
}

// event observes the phases of a job that ended.
func (m *metrics) event(e core.Event) {
	if e.Type != core.EventJobExited || e.Job == nil {
		return
	}
	m.ended.WithLabelValues(string(e.Job.State)).Inc()
	if e.Job.Result == nil {
		return
	}
	d := e.Job.Result.Durations
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"queue", d.Queue}, {"select", d.Select}, {"start", d.Start}, {"run", d.Run},
		{"commit", d.Commit}, {"cleanup", d.Cleanup}, {"total", d.Total}} {
		if p.d > 0 {
			m.phases.WithLabelValues(p.name).Observe(p.d.Seconds())
		}
	}
}

// request counts an answered request.
func (m *metrics) request(r *http.Request, code int) {
	route := r.Pattern
	if route == "" || route == "/" {
		route = "none"
	}
	m.requests.WithLabelValues(r.Method, route, strconv.Itoa(code)).Inc()
}

// stateCollector reads the core at each scrape. It is unchecked (it
// describes nothing): the core's counters are named at run time.
type stateCollector struct{ s *Server }

var (
	descQueued    = prometheus.NewDesc(namespace+"_jobs_queued", "Jobs queued now.", nil, nil)
	descRunning   = prometheus.NewDesc(namespace+"_jobs_running", "Jobs running now.", nil, nil)
	descSnapBytes = prometheus.NewDesc(namespace+"_snapshot_bytes", "Total size of the snapshots, by project.", []string{"project"}, nil)
	descSnaps     = prometheus.NewDesc(namespace+"_snapshots", "Snapshots kept, by project.", []string{"project"}, nil)
	descPublished = prometheus.NewDesc(namespace+"_events_published_total", "Events published to the event streams.", nil, nil)
	descDropped   = prometheus.NewDesc(namespace+"_event_streams_dropped_total", "Event streams disconnected for falling behind.", nil, nil)
)

func (stateCollector) Describe(chan<- *prometheus.Desc) {}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	for name, v := range s.core.Counters() {
		desc := prometheus.NewDesc(namespace+"_"+name, "berth core counter "+name+".", nil, nil)
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	published, dropped := s.events.stats()
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(published))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(dropped))

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, st := range []struct {
		state core.JobState
		desc  *prometheus.Desc
	}{{core.JobQueued, descQueued}, {core.JobRunning, descRunning}} {
		recs, err := s.core.ListJobs(ctx, core.JobFilter{State: st.state})
		if err != nil {
			s.log.Warn("metrics: list jobs", "state", st.state, "err", err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(st.desc, prometheus.GaugeValue, float64(len(recs)))
	}
	snaps, err := s.core.Snapshots(ctx, "")
	if err != nil {
		s.log.Warn("metrics: list snapshots", "err", err)
		return
	}
	bytes, count := map[string]int64{}, map[string]int{}
	for _, sn := range snaps {
		bytes[sn.Project] += sn.Size
		count[sn.Project]++
	}
	for p, b := range bytes {
		ch <- prometheus.MustNewConstMetric(descSnapBytes, prometheus.GaugeValue, float64(b), p)
		ch <- prometheus.MustNewConstMetric(descSnaps, prometheus.GaugeValue, float64(count[p]), p)
	}
}

// slogPrinter passes promhttp's errors to the server's log.
type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }
