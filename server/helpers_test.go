package server_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/api/apitest"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/server"
)

const baseRef = "berth-test/base:1"

// env is a server on a core on the fake runtime, served by httptest, and
// a client whose every request and answer is checked against the
// document.
type env struct {
	t     *testing.T
	rt    *fake.Runtime
	core  *core.Core
	hub   *server.Hub
	srv   *server.Server
	ts    *httptest.Server
	check *apitest.Checker
	c     *client.Client
}

// setup tunes an env before it starts.
type setup struct {
	core   func(*core.Config)
	server func(*server.Options)
	// wrap wraps the core the server sees (to inject errors).
	wrap func(server.Core) server.Core
	// runtimes are more runtimes besides "fake".
	runtimes core.RuntimeList
}

func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	e := &env{t: t, rt: fake.New(), hub: server.NewHub(0), check: apitest.New(t)}
	t.Cleanup(func() { e.rt.Close() })
	tarball, err := testimage.Tar(testimage.Options{Ref: baseRef, Busybox: []byte("the fake runs no binaries")})
	require.NoError(t, err)
	_, err = e.rt.LoadImage(context.Background(), bytes.NewReader(tarball))
	require.NoError(t, err, "load the base image")

	cfg := core.Config{
		StateDir:  t.TempDir(),
		Runtimes:  append(core.RuntimeList{{Name: "fake", Runtime: e.rt}}, s.runtimes...),
		Policy:    core.Policy{Enabled: true},
		StopGrace: 20 * time.Millisecond,
		OnEvent:   e.hub.Publish,
	}
	if s.core != nil {
		s.core(&cfg)
	}
	e.core, err = core.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { e.core.Close() })
	_, err = e.core.Recover(context.Background())
	require.NoError(t, err, "Recover")

	var c server.Core = e.core
	if s.wrap != nil {
		c = s.wrap(c)
	}
	opts := server.Options{Core: c, Events: e.hub, Runtimes: cfg.Runtimes,
		Driver:      func(name string) string { return "berth-driver-" + name },
		JobDefaults: server.JobDefaults{Image: baseRef}}
	if s.server != nil {
		s.server(&opts)
	}
	e.srv = server.New(opts)
	e.srv.SetReady(nil)
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close)
	t.Cleanup(e.srv.Close) // first: it ends the streams the test left open
	e.c = e.client(client.WithTransport(e.check.Transport(t)))
	return e
}

// client returns another client of the env's server.
func (e *env) client(opts ...client.Option) *client.Client {
	e.t.Helper()
	c, err := client.New(e.ts.URL, opts...)
	require.NoError(e.t, err)
	e.t.Cleanup(c.Close)
	return c
}

// sh is a request for a job running script on the base image.
func sh(workItem, script string) api.CreateJobRequest {
	req := api.CreateJobRequest{Cmd: []string{"sh", "-c", script}}
	if workItem != "" {
		req.WorkItem = &workItem
	}
	return req
}

// create creates req and fails the test on error.
func (e *env) create(req api.CreateJobRequest) *client.Job {
	e.t.Helper()
	j, err := e.c.CreateJob(context.Background(), req, "")
	require.NoError(e.t, err, "CreateJob(%q)", req.Cmd)
	return j
}

// wait waits for job id's end.
func (e *env) wait(id string) *client.Job {
	e.t.Helper()
	j, err := e.c.WaitJob(context.Background(), id, time.Minute)
	require.NoError(e.t, err, "WaitJob(%s)", id)
	require.True(e.t, j.Ended(), "job %s is %s after WaitJob", id, j.State)
	return j
}

// running waits until job id runs.
func (e *env) running(id string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		j, err := e.c.GetJob(context.Background(), id)
		return err == nil && j.State == api.JobStateRunning
	}, time.Minute, 10*time.Millisecond, "job %s never ran", id)
}

// logs reads job id's output through the API, by stream.
func (e *env) logs(id string, follow bool) (stdout, stderr []byte) {
	e.t.Helper()
	var out, errb bytes.Buffer
	err := e.c.Logs(context.Background(), id, follow, func(s core.Stream, data []byte) error {
		if s == core.Stderr {
			errb.Write(data)
		} else {
			out.Write(data)
		}
		return nil
	})
	require.NoError(e.t, err, "Logs(%s)", id)
	return out.Bytes(), errb.Bytes()
}

// errCore is a server.Core whose Submit fails with submit.
type errCore struct {
	server.Core
	submit error
}

func (c *errCore) Submit(ctx context.Context, job core.Job, opts core.SubmitOptions) (core.JobRecord, error) {
	if c.submit != nil {
		return core.JobRecord{}, c.submit
	}
	return c.Core.Submit(ctx, job, opts)
}

// collector gathers the events a stream delivers.
type collector struct {
	mu  sync.Mutex
	all []client.Event
}

func (c *collector) add(ev client.Event) error {
	c.mu.Lock()
	c.all = append(c.all, ev)
	c.mu.Unlock()
	return nil
}

func (c *collector) events() []client.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]client.Event(nil), c.all...)
}

// of lists the types of the events about job id.
func (c *collector) of(id string) []string {
	var out []string
	for _, ev := range c.events() {
		if ev.Job != nil && ev.Job.Id == id {
			out = append(out, string(ev.Type))
		}
	}
	return out
}
