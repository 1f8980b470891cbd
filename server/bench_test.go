package server_test

// Benchmarks and load tests of the daemon's API on the fake runtime: a
// server on a core served over a unix socket in this process, as berth
// serve serves it, and clients of it. Speed is reported (b.ReportMetric),
// never asserted; the load tests assert outcomes and that goroutines and
// open files come back to where they were.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/server"
)

// benchDaemon is a server on a core on the in-memory fake, listening on a
// unix socket; the core is at hand for jobs run in process.
type benchDaemon struct {
	core  *core.Core
	host  string
	state string // the core's state directory
}

func newBenchDaemon(tb testing.TB) *benchDaemon {
	tb.Helper()
	ctx := context.Background()
	rt := fake.New()
	tb.Cleanup(func() { rt.Close() })
	tarball, err := testimage.Tar(testimage.Options{Ref: baseRef, Busybox: []byte("the fake runs no binaries")})
	require.NoError(tb, err)
	_, err = rt.LoadImage(ctx, bytes.NewReader(tarball))
	require.NoError(tb, err, "load the base image")

	hub := server.NewHub(0)
	cfg := core.Config{
		StateDir:  tb.TempDir(),
		Runtimes:  core.RuntimeList{{Name: "fake", Runtime: rt}},
		Policy:    core.Policy{Enabled: true},
		StopGrace: 20 * time.Millisecond,
		OnEvent:   hub.Publish,
	}
	c, err := core.Open(ctx, cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	_, err = c.Recover(ctx)
	require.NoError(tb, err, "Recover")

	srv := server.New(server.Options{Core: c, Events: hub, Runtimes: cfg.Runtimes,
		JobDefaults: server.JobDefaults{Image: baseRef}})
	srv.SetReady(nil)
	// A short directory: a socket's path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "berth-bench")
	require.NoError(tb, err)
	sock := filepath.Join(dir, "berth.sock")
	l, err := server.Listen("unix://"+sock, server.ListenOptions{})
	require.NoError(tb, err)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(l) }()
	tb.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
		<-served
		os.RemoveAll(dir)
	})
	return &benchDaemon{core: c, host: "unix://" + sock, state: cfg.StateDir}
}

// benchHistory is the core's default cap on the ended job records it
// keeps (core.Config.JobHistory): a daemon that has run that many jobs
// evicts the oldest record at the end of each job.
const benchHistory = 1000

// fill runs benchHistory jobs in the core, so that the benchmarks measure
// a daemon in its steady state: its statements prepared, its history of
// ended jobs full.
func (d *benchDaemon) fill(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	for range benchHistory {
		rec, err := d.core.Submit(ctx, benchJob, core.SubmitOptions{})
		require.NoError(tb, err)
		rec, err = d.core.WaitJob(ctx, rec.ID)
		require.NoError(tb, err)
		require.Equal(tb, core.JobExited, rec.State, "job %s", rec.ID)
	}
}

// client returns a client of the daemon with connections of its own.
func (d *benchDaemon) client(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.New(d.host)
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c
}

// benchOut is what the benchmarks' jobs print.
const benchOut = "ok\n"

// benchJob prints benchOut, on the fake.
var benchJob = core.Job{Runtime: "fake", Image: baseRef, Cmd: []string{"sh", "-c", "echo ok"}}

// apiRun is one job through the API as berth run makes it through a
// daemon: created, its output followed, waited for.
type apiRun struct {
	sent    time.Time
	end     *client.Job
	stdout  string
	refused int // log streams refused with too-many-streams, then retried
}

// queueTimeout reports whether the job ended failed for want of a slot.
func (r apiRun) queueTimeout() bool {
	return r.end.State == api.JobStateFailed && errors.Is(r.end.Err(), core.ErrQueueTimeout)
}

// check returns an error unless the job exited 0 with its output whole.
func (r apiRun) check() error {
	res, _ := r.end.Result()
	if r.end.State != api.JobStateExited || res.ExitCode != 0 || r.stdout != benchOut {
		return fmt.Errorf("job %s: %s, exit %d, output %q: %v", r.end.Id, r.end.State, res.ExitCode, r.stdout, r.end.Err())
	}
	return nil
}

// started is create to started: from the moment the create was sent to
// the job's recorded start (its container running).
func (r apiRun) started() time.Duration {
	if r.end.Started == nil {
		return 0
	}
	return r.end.Started.Sub(r.sent)
}

func runAPI(ctx context.Context, c *client.Client) (apiRun, error) {
	req := api.CreateJobRequest{Runtime: &benchJob.Runtime, Cmd: benchJob.Cmd}
	r := apiRun{sent: time.Now()}
	j, err := c.CreateJob(ctx, req, "")
	if err != nil {
		return r, err
	}
	var out bytes.Buffer
	for {
		out.Reset()
		err = c.Logs(ctx, j.Id, true, func(s core.Stream, data []byte) error {
			if s == core.Stdout {
				out.Write(data)
			}
			return nil
		})
		var pe *client.Error
		if errors.Is(err, client.ErrTooManyStreams) && errors.As(err, &pe) && r.refused < 100 {
			// Documented: retry after the daemon's Retry-After.
			r.refused++
			time.Sleep(max(pe.RetryAfter, 50*time.Millisecond))
			continue
		}
		break
	}
	if err != nil {
		return r, err
	}
	r.stdout = out.String()
	r.end, err = c.WaitJob(ctx, j.Id, time.Minute)
	return r, err
}

func runInProcess(ctx context.Context, c *core.Core) error {
	var out bytes.Buffer
	job := benchJob
	job.Stdout = &out
	res, err := c.Run(ctx, job)
	if err == nil && (res.ExitCode != 0 || out.String() != benchOut) {
		err = fmt.Errorf("in process: exit %d, output %q", res.ExitCode, out.String())
	}
	return err
}

// BenchmarkJobOverhead runs the same job on the fake in turn in process
// (core.Run) and through the API (a client over the unix socket to the
// server on the same core: create, follow the output, wait, as berth run
// does through a daemon), on a daemon whose history of ended jobs is full.
// It reports the median of each and the median of their difference per
// pair, the API's cost per job (issue 13's target: at most 2 ms). ns/op
// counts both jobs.
func BenchmarkJobOverhead(b *testing.B) {
	d := newBenchDaemon(b)
	d.fill(b)
	c := d.client(b)
	ctx := context.Background()
	var inproc, viaAPI, extra []time.Duration
	for i := 0; b.Loop(); i++ {
		var tIn, tAPI time.Duration
		inProcess := func() {
			t0 := time.Now()
			if err := runInProcess(ctx, d.core); err != nil {
				b.Fatal(err)
			}
			tIn = time.Since(t0)
		}
		throughAPI := func() {
			t0 := time.Now()
			r, err := runAPI(ctx, c)
			if err == nil {
				err = r.check()
			}
			if err != nil {
				b.Fatal(err)
			}
			tAPI = time.Since(t0)
		}
		if i%2 == 0 { // alternate which goes first
			inProcess()
			throughAPI()
		} else {
			throughAPI()
			inProcess()
		}
		inproc, viaAPI, extra = append(inproc, tIn), append(viaAPI, tAPI), append(extra, tAPI-tIn)
	}
	b.ReportMetric(msOf(percentile(inproc, 50)), "inproc-ms/job")
	b.ReportMetric(msOf(percentile(viaAPI, 50)), "api-ms/job")
	b.ReportMetric(msOf(percentile(extra, 50)), "extra-ms/job")
}

// benchClients is how many clients BenchmarkCreateToStarted runs at once.
const benchClients = 50

// BenchmarkCreateToStarted has 50 clients, each with its own
// connections, run jobs on the fake one after another, all at once (each
// job created, followed and waited for), and reports create to started:
// from the moment a create is sent to the job's recorded start, p50 and
// p99, and the jobs per second. Run it with enough jobs for a p99, such
// as -benchtime 2000x.
func BenchmarkCreateToStarted(b *testing.B) {
	d := newBenchDaemon(b)
	d.fill(b)
	ctx := context.Background()
	clients := make([]*client.Client, benchClients)
	for i := range clients {
		clients[i] = d.client(b)
	}
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				r, err := runAPI(ctx, c)
				if err == nil {
					err = r.check()
				}
				if err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], r.started())
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	b.StopTimer()
	all := slices.Concat(lat...)
	b.ReportMetric(msOf(percentile(all, 50)), "p50-started-ms")
	b.ReportMetric(msOf(percentile(all, 99)), "p99-started-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "jobs/s")
}

// TestLoadBurst: 200 clients at once each run a job through the API on
// the fake. Every job exits 0 with its output whole; the only errors are
// the documented queue ones (a job failed with queue-timeout, a log
// stream refused with too-many-streams and retried). Afterwards the
// server's goroutines and open files come back to where they were.
func TestLoadBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const n = 200
	d := newBenchDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	before := d.settled(t, nil)
	clients := make([]*client.Client, n)
	for i := range clients {
		var err error
		clients[i], err = client.New(d.host)
		require.NoError(t, err)
	}
	runs := make([]apiRun, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			runs[i], errs[i] = runAPI(ctx, clients[i])
			if errs[i] == nil && !runs[i].queueTimeout() {
				errs[i] = runs[i].check()
			}
		})
	}
	close(start)
	wg.Wait()
	var ok, queue, refused int
	for i, r := range runs {
		if !assert.NoError(t, errs[i], "client %d", i) {
			continue
		}
		refused += r.refused
		if r.queueTimeout() {
			queue++
		} else {
			ok++
		}
	}
	t.Logf("%d clients at once: %d exited 0, %d failed queue-timeout; log streams refused (too-many-streams) and retried: %d",
		n, ok, queue, refused)
	for _, c := range clients {
		c.Close()
	}
	after := d.settled(t, &before)
	t.Logf("goroutines %d then %d, open files %d then %d (and the state database's %d then %d)",
		before.goroutines, after.goroutines, before.fds, after.fds, before.db, after.db)
}

// TestLoadJobsInARow: 300 jobs in a row through the API on the fake leave
// the goroutines and open files where they were after the first 50 (the
// Go heap is reported, not asserted).
func TestLoadJobsInARow(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const warm, n = 50, 300
	d := newBenchDaemon(t)
	c := d.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	var at usage
	for i := 1; i <= n; i++ {
		r, err := runAPI(ctx, c)
		if err == nil {
			err = r.check()
		}
		require.NoError(t, err, "job %d", i)
		switch i {
		case warm:
			c.Close()
			at = d.settled(t, nil)
		case n:
			c.Close()
			end := d.settled(t, &at)
			t.Logf("after %d jobs: goroutines %d, open files %d (+%d of the database), heap %.1f MiB; after %d: %d, %d (+%d), %.1f MiB",
				warm, at.goroutines, at.fds, at.db, float64(at.heap)/(1<<20), n, end.goroutines, end.fds, end.db, float64(end.heap)/(1<<20))
		}
	}
}

// usage is this process's goroutines, open files and Go heap in use. The
// files of the state database are counted apart: its connection pool
// (core/internal/store) keeps up to four connections open, as many as
// the load called for.
type usage struct {
	goroutines, fds, db int
	heap                uint64
}

func (d *benchDaemon) usage(t *testing.T) usage {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	var u usage
	for _, fd := range fds {
		to, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if filepath.Dir(to) == d.state && strings.HasPrefix(filepath.Base(to), "berth.db") {
			u.db++
		} else {
			u.fds++
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u.goroutines, u.heap = runtime.NumGoroutine(), ms.HeapInuse
	return u
}

// settled reads the usage once the goroutines and open files hold still
// (a job's last goroutines end just after its wait answers). With a
// baseline, it waits (up to 10s) for them to come back to it, and fails
// if they do not.
func (d *benchDaemon) settled(t *testing.T, baseline *usage) usage {
	t.Helper()
	var last usage
	still := 0
	for range 100 {
		u := d.usage(t)
		if baseline != nil && u.goroutines <= baseline.goroutines && u.fds <= baseline.fds {
			return u
		}
		if u.goroutines == last.goroutines && u.fds == last.fds {
			if still++; still == 3 && baseline == nil {
				return u
			}
		} else {
			still = 0
		}
		last = u
		time.Sleep(100 * time.Millisecond)
	}
	if baseline != nil {
		t.Errorf("goroutines %d and open files %d did not come back to %d and %d", last.goroutines, last.fds,
			baseline.goroutines, baseline.fds)
		open := map[string]int{} // open files by directory
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			to, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
			open[filepath.Dir(to)]++
		}
		buf := make([]byte, 64<<10)
		t.Logf("open files by directory: %v\ngoroutines (the first 64 KiB):\n%s", open, buf[:runtime.Stack(buf, true)])
	}
	return last
}

// percentile is the p-th percentile of ds, by nearest rank (0 when empty).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i, 1)-1]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
