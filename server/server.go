package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server/dashboard"
)

// Core is what the server asks of the core; *core.Core implements it.
type Core interface {
	Submit(ctx context.Context, job core.Job, opts core.SubmitOptions) (core.JobRecord, error)
	GetJob(ctx context.Context, id string) (core.JobRecord, error)
	ListJobs(ctx context.Context, f core.JobFilter) ([]core.JobRecord, error)
	WaitJob(ctx context.Context, id string) (core.JobRecord, error)
	WaitJobExit(ctx context.Context, id string) (core.JobRecord, error)
	CancelJob(ctx context.Context, id string) (core.JobRecord, error)
	JobLogs(ctx context.Context, id string, opts core.LogsOptions, fn func(core.LogChunk) error) error
	Snapshots(ctx context.Context, project string) ([]core.Snapshot, error)
	Invalidate(ctx context.Context, project, workItem string) ([]core.Snapshot, error)
	Fork(ctx context.Context, from, to core.WorkItem) (core.Snapshot, error)
	Sweep(ctx context.Context, opts core.SweepOptions) (core.SweepReport, error)
	Counters() map[string]float64
}

var _ Core = (*core.Core)(nil)

// Defaults of zero Options fields.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxStreams   = 64
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = time.Minute
	// MaxWait is the longest GET /v1/jobs/{id}/wait blocks; DefaultWait
	// is how long it blocks without a timeout parameter.
	MaxWait     = 10 * time.Minute
	DefaultWait = time.Minute
	// DefaultListLimit caps GET /v1/jobs without a limit parameter.
	DefaultListLimit = 100
)

// JobDefaults fill in what a created job leaves out (the config's job
// section, as berth run applies it).
type JobDefaults struct {
	Image       string
	Timeout     time.Duration
	MemoryBytes int64
	NanoCPUs    int64
}

// Options configure a Server.
type Options struct {
	// Core runs the jobs. Required.
	Core Core
	// Events is the hub given to the core as core.Config.OnEvent (nil: a
	// hub of its own, which then hears of no event).
	Events *Hub
	// Runtimes are the runtimes GET /v1/runtimes lists and pings (nil:
	// none).
	Runtimes core.RuntimeSet
	// Driver names the driver of a runtime, for GET /v1/runtimes (nil:
	// not shown).
	Driver func(runtime string) string
	// Logger receives the server's logs (nil: discard).
	Logger *slog.Logger
	// Token, when set, is the bearer token every request must carry.
	Token string
	// MaxBodyBytes caps request bodies (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxStreams caps the log and event streams open at once (0:
	// DefaultMaxStreams).
	MaxStreams int
	// Heartbeat is the interval of the comments sent on an idle event
	// stream (0: DefaultHeartbeat).
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a stream: a reader that takes
	// longer is disconnected (0: DefaultWriteTimeout).
	WriteTimeout time.Duration
	// JobDefaults fill in what a created job leaves out.
	JobDefaults JobDefaults
	// ParseSize reads a job's memory ("512m"); nil: bytes or a number with
	// a unit k, m, g, t, p (docker/go-units).
	ParseSize func(string) (int64, error)
	// DiskSampleInterval is how often the disk used by the snapshots is
	// sampled for GET /v1/disk, besides after the commits, evictions and
	// gc runs the server sees (0: DefaultDiskSampleInterval).
	DiskSampleInterval time.Duration
}

// Server is the API's http.Handler. Its methods are safe for concurrent
// use.
type Server struct {
	opts    Options
	core    Core
	events  *Hub
	log     *slog.Logger
	mux     *http.ServeMux
	streams chan struct{} // a slot per open stream
	metrics *metrics
	gcRuns  gcRuns
	disk    *diskHistory

	closed context.Context // done once Close is called
	close  context.CancelFunc

	mu       sync.Mutex
	notReady error // why the server is not ready; nil when it is
}

// errStarting is why a new Server is not ready until SetReady(nil).
var errStarting = errors.New("starting")

// New returns a Server on opts.Core. It is not ready (GET /readyz answers
// 503) until SetReady(nil); every other route works at once.
func New(opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Events == nil {
		opts.Events = NewHub(0)
	}
	if opts.ParseSize == nil {
		opts.ParseSize = parseSize
	}
	if opts.DiskSampleInterval <= 0 {
		opts.DiskSampleInterval = DefaultDiskSampleInterval
	}
	s := &Server{
		opts:     opts,
		core:     opts.Core,
		events:   opts.Events,
		log:      opts.Logger,
		mux:      http.NewServeMux(),
		streams:  make(chan struct{}, opts.MaxStreams),
		notReady: errStarting,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.closed, s.close = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)
	s.disk = newDiskHistory(s.closed, func(ctx context.Context) ([]core.Snapshot, error) { return s.core.Snapshots(ctx, "") },
		opts.DiskSampleInterval, func(err error) { s.log.Warn("sample the disk used", "err", err) })
	if s.core != nil {
		s.disk.kick() // the first sample
	}
	s.events.observe(s.observe)
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
	}
	dash := dashboard.New(dashboard.Options{TokenRequired: opts.Token != "", NotFound: func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, string(core.KindNotFound), "no such path: "+r.URL.Path)
	}})
	s.mux.Handle("GET /{$}", dash)
	s.mux.Handle("GET "+dashboard.Prefix, dash)
	s.mux.HandleFunc("/", s.noRoute)
	return s
}

// route is an operation of the API: a method, a path (in the document's
// and ServeMux's common syntax) and its handler.
type route struct {
	method, path string
	handler      http.HandlerFunc
}

// routes lists every operation of the document (a test checks both agree).
func (s *Server) routes() []route {
	return []route{
		{"POST", "/v1/jobs", s.createJob},
		{"GET", "/v1/jobs", s.listJobs},
		{"GET", "/v1/jobs/{id}", s.getJob},
		{"GET", "/v1/jobs/{id}/wait", s.waitJob},
		{"POST", "/v1/jobs/{id}/cancel", s.cancelJob},
		{"GET", "/v1/jobs/{id}/logs", s.jobLogs},
		{"GET", "/v1/events", s.eventStream},
		{"GET", "/v1/snapshots", s.listSnapshots},
		{"POST", "/v1/snapshots/fork", s.forkSnapshot},
		{"DELETE", "/v1/snapshots/{project}", s.deleteProjectSnapshots},
		{"DELETE", "/v1/snapshots/{project}/{work_item}", s.deleteSnapshots},
		{"POST", "/v1/gc", s.gc},
		{"GET", "/v1/gc/runs", s.listGCRuns},
		{"GET", "/v1/disk", s.diskUsage},
		{"GET", "/v1/runtimes", s.listRuntimes},
		{"GET", "/v1/openapi.json", s.openAPI},
		{"GET", "/healthz", s.health},
		{"GET", "/readyz", s.ready},
		{"GET", "/metrics", s.metrics.serve},
	}
}

// ServeHTTP checks the bearer token, if one is set, and serves the API
// and the dashboard. The dashboard's page and files need no token: they
// hold no data, and the page sends the token with its API requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	if s.opts.Token != "" && !dashboard.Public(r) && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
		s.problem(sw, r, http.StatusUnauthorized, api.KindUnauthorized, "a bearer token is required (Authorization: Bearer <token>)")
	} else {
		s.mux.ServeHTTP(sw, r)
	}
	s.metrics.request(r, sw.status())
}

// authorized reports whether r carries the token, compared in constant
// time.
func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.Token)) == 1
}

// noRoute answers a request no operation matches: 405 if its path has
// other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.problem(w, r, http.StatusMethodNotAllowed, api.KindMethodNotAllowed, r.Method+" "+r.URL.Path+": method not allowed")
		return
	}
	s.problem(w, r, http.StatusNotFound, string(core.KindNotFound), "no such path: "+r.URL.Path)
}

// SetReady sets the answer of GET /readyz: ready when err is nil, else not
// ready because of err (core.ErrDraining while the daemon stops).
func (s *Server) SetReady(err error) {
	s.mu.Lock()
	s.notReady = err
	s.mu.Unlock()
}

func (s *Server) readiness() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notReady
}

// Close ends the open streams and the waits in progress (a wait answers the
// job as it is) and the sampling of the disk used; call it before
// http.Server.Shutdown, which does not end them. The handler keeps serving
// other requests.
func (s *Server) Close() {
	s.close()
	s.disk.stop()
}

// context returns r's context, also cancelled by Close.
func (s *Server) context(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.closed, cancel)
	return ctx, func() { stop(); cancel() }
}

// statusWriter records the status written, for the request metrics. It
// unwraps for http.ResponseController (flushes, write deadlines).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
