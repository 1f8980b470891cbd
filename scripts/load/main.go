// Command load puts a running berth serve under load and reports what it
// measures (scripts/bench.sh load runs it):
//
//	go run ./scripts/load -host unix:///S/berth.sock -pid PID burst -n 200
//	go run ./scripts/load -host unix:///S/berth.sock -pid PID soak -n 5000 -at 1000
//
// burst: n clients at once, each with its own connection, create a job,
// follow its output and wait for its end, as berth run does through a
// daemon. Every job must exit 0 with its output whole; the only errors
// allowed are the documented queue ones: a job that ends failed with
// queue-timeout (no slot within concurrency.wait_timeout) and a log stream
// refused with 503 too-many-streams (retried after its Retry-After). It
// prints the outcomes, the latency of the create answer and of create to
// started (the job's recorded start less the moment its create was sent),
// and the daemon's goroutines and open files before and after.
//
// soak: n jobs in a row, the same way; the daemon's resident memory, Go
// heap, goroutines, threads and open files at the start, after each -at
// jobs and at the end, read from /proc/PID (status, fd) and from its
// /metrics (berth_go_*). Every job must exit 0 with its output whole.
//
// It exits 1 on any other error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
)

// global flags
var (
	host    = flag.String("host", os.Getenv("BERTH_HOST"), "the daemon: unix:///path/berth.sock (default $BERTH_HOST)")
	pid     = flag.Int("pid", 0, "the daemon's process ID, for its /proc figures (0: none)")
	rtName  = flag.String("runtime", "", "the jobs' runtime (default: the daemon's)")
	image   = flag.String("image", "", "the jobs' image (default: the daemon's job default)")
	timeout = flag.Duration("timeout", 10*time.Minute, "bound on the whole run")
)

// out is what each job prints; its output must come back whole.
const out = "ok"

func main() {
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: load [-host ADDR] [-pid PID] [-runtime NAME] [-image REF] burst [-n 200] | soak [-n 5000] [-at 1000]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *host == "" || flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	mode, args := flag.Arg(0), flag.Args()[1:]
	var err error
	switch mode {
	case "burst":
		fs := flag.NewFlagSet("burst", flag.ExitOnError)
		n := fs.Int("n", 200, "clients at once, one job each")
		_ = fs.Parse(args)
		err = burst(ctx, *n)
	case "soak":
		fs := flag.NewFlagSet("soak", flag.ExitOnError)
		n := fs.Int("n", 5000, "jobs in a row")
		at := fs.Int("at", 1000, "sample the daemon every this many jobs")
		_ = fs.Parse(args)
		err = soak(ctx, *n, *at)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// request is the job every client makes.
func request() api.CreateJobRequest {
	req := api.CreateJobRequest{Cmd: []string{"sh", "-c", "echo " + out}}
	if *rtName != "" {
		req.Runtime = rtName
	}
	if *image != "" {
		req.Image = image
	}
	return req
}

// outcome is what happened to one client's job.
type outcome struct {
	created, started time.Duration // create answered, and the job's start, after the create was sent
	ended            time.Time     // the job's recorded end
	refused          int           // log streams refused (too-many-streams)
	queueTimeout     bool          // the job ended failed with queue-timeout
	err              error         // anything else
}

// job runs one job as berth run does through a daemon: create, follow the
// output, wait for the end.
func job(ctx context.Context, c *client.Client) (o outcome) {
	sent := time.Now()
	j, err := c.CreateJob(ctx, request(), "")
	o.created = time.Since(sent)
	if err != nil {
		o.err = fmt.Errorf("create: %w", err)
		return o
	}
	var stdout, stderr bytes.Buffer
	for {
		stdout.Reset()
		stderr.Reset()
		err = c.Logs(ctx, j.Id, true, func(s core.Stream, data []byte) error {
			if s == core.Stderr {
				stderr.Write(data)
			} else {
				stdout.Write(data)
			}
			return nil
		})
		var e *client.Error
		if errors.Is(err, client.ErrTooManyStreams) && errors.As(err, &e) && o.refused < 100 {
			o.refused++
			sleep(ctx, max(e.RetryAfter, 100*time.Millisecond))
			continue
		}
		break
	}
	if err != nil {
		o.err = fmt.Errorf("logs of %s: %w", j.Id, err)
		return o
	}
	end, err := c.WaitJob(ctx, j.Id, 0)
	if err != nil {
		o.err = fmt.Errorf("wait for %s: %w", j.Id, err)
		return o
	}
	if end.Started != nil {
		o.started = end.Started.Sub(sent)
	}
	if end.Job.Ended != nil {
		o.ended = *end.Job.Ended
	}
	switch {
	case end.State == api.JobStateFailed && errors.Is(end.Err(), core.ErrQueueTimeout):
		o.queueTimeout = true
	case end.State != api.JobStateExited || end.ExitCode == nil || *end.ExitCode != 0:
		o.err = fmt.Errorf("job %s ended %s (exit %v): %v", j.Id, end.State, deref(end.ExitCode), end.Err())
	case stdout.String() != out+"\n" || stderr.Len() > 0:
		o.err = fmt.Errorf("job %s: output %q, stderr %q; want %q", j.Id, stdout.String(), stderr.String(), out+"\n")
	}
	return o
}

func burst(ctx context.Context, n int) error {
	before, err := settle(ctx, nil)
	if err != nil {
		return err
	}
	clients := make([]*client.Client, n)
	for i := range clients {
		if clients[i], err = client.New(*host); err != nil {
			return err
		}
	}
	outs := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			outs[i] = job(ctx, clients[i])
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(began)
	for _, c := range clients {
		c.Close()
	}

	var created, started []time.Duration
	var ok, queue, refused, refusedJobs int
	var errs []error
	var last time.Time
	for _, o := range outs {
		if o.ended.After(last) {
			last = o.ended
		}
		created = append(created, o.created)
		if o.started > 0 {
			started = append(started, o.started)
		}
		refused += o.refused
		if o.refused > 0 {
			refusedJobs++
		}
		switch {
		case o.err != nil:
			errs = append(errs, o.err)
		case o.queueTimeout:
			queue++
		default:
			ok++
		}
	}
	after, err := settle(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Printf("burst: %d clients at once: %d exited 0 with their output whole, %d failed queue-timeout (503), other errors %d\n",
		n, ok, queue, len(errs))
	fmt.Printf("  log streams refused with 503 too-many-streams and retried: %d (for %d jobs)\n", refused, refusedJobs)
	fmt.Printf("  create answered:   p50 %s  p99 %s  max %s\n", ms(pct(created, 50)), ms(pct(created, 99)), ms(pct(created, 100)))
	fmt.Printf("  create to started: p50 %s  p99 %s  max %s\n", ms(pct(started, 50)), ms(pct(started, 99)), ms(pct(started, 100)))
	fmt.Printf("  the last job ended %s after the start, the last client was done after %s\n", ms(last.Sub(began)), ms(wall))
	if before.ok() {
		fmt.Println("  daemon          " + header)
		fmt.Println("  before          " + before.String())
		fmt.Println("  after (settled) " + after.String())
	}
	if len(errs) > 0 {
		for _, e := range errs[:min(len(errs), 10)] {
			fmt.Fprintln(os.Stderr, "  error:", e)
		}
		return fmt.Errorf("%d jobs with errors other than the documented queue ones", len(errs))
	}
	return nil
}

func soak(ctx context.Context, n, at int) error {
	c, err := client.New(*host)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := settle(ctx, c)
	if err != nil {
		return err
	}
	fmt.Println("soak: jobs in a row, each created, followed and waited for; the daemon after each step, settled")
	fmt.Printf("  %-8s %s %10s\n", "jobs", header, "ms/job")
	fmt.Printf("  %-8d %s %10s\n", 0, s.String(), "-")
	began := time.Now()
	for i := 1; i <= n; i++ {
		o := job(ctx, c)
		if o.err == nil && o.queueTimeout {
			o.err = errors.New("queue-timeout on a daemon with one job at a time")
		}
		if o.err != nil {
			return fmt.Errorf("job %d: %w", i, o.err)
		}
		if i%at == 0 || i == n {
			per := time.Since(began) / time.Duration(at)
			if i%at != 0 {
				per = time.Since(began) / time.Duration(i%at)
			}
			if s, err = settle(ctx, c); err != nil {
				return err
			}
			fmt.Printf("  %-8d %s %10s\n", i, s.String(), ms(per))
			began = time.Now()
		}
	}
	return nil
}

// header names the columns of a sample.
var header = fmt.Sprintf("%9s %9s %9s %10s %7s %5s %9s", "rss_MiB", "hwm_MiB", "heap_MiB", "goroutines", "threads", "fds", "child_MiB")

// sample is the daemon's resources at one moment.
type sample struct {
	rss, hwm, heap, child int64 // bytes: resident, its peak, the Go heap in use, the drivers' resident
	goroutines, threads   int
	fds                   int
}

func (s sample) ok() bool { return *pid > 0 }

func (s sample) String() string {
	mib := func(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) }
	return fmt.Sprintf("%9s %9s %9s %10d %7d %5d %9s", mib(s.rss), mib(s.hwm), mib(s.heap), s.goroutines, s.threads, s.fds, mib(s.child))
}

// settle samples the daemon once its open files hold still for three
// samples 100ms apart (a job's last goroutines end just after its wait
// answers), at most 5s; c's idle connections are closed first, so that
// they are not counted. The goroutines are the least of those three
// samples: a scrape of /metrics counts those of its own collectors as
// they run (an idle daemon reads 27 to 34 from one scrape to the next).
func settle(ctx context.Context, c *client.Client) (sample, error) {
	if *pid <= 0 {
		return sample{}, nil
	}
	if c != nil {
		c.Close()
	}
	var last sample
	still := 0
	for range 50 {
		s, err := read(ctx)
		if err != nil {
			return s, err
		}
		if s.fds == last.fds {
			s.goroutines = min(s.goroutines, last.goroutines)
			if still++; still == 2 {
				return s, nil
			}
		} else {
			still = 0
		}
		last = s
		sleep(ctx, 100*time.Millisecond)
	}
	return last, nil
}

// read samples the daemon: /proc/PID/status and fd, its drivers'
// /proc/CHILD/status, and its /metrics.
func read(ctx context.Context) (sample, error) {
	var s sample
	st, err := status(*pid)
	if err != nil {
		return s, err
	}
	s.rss, s.hwm, s.threads = st["VmRSS"], st["VmHWM"], int(st["Threads"])
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(*pid), "fd"))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	for _, child := range children(*pid) {
		if cst, err := status(child); err == nil {
			s.child += cst["VmRSS"]
		}
	}
	m, err := scrape(ctx)
	if err != nil {
		return s, err
	}
	s.goroutines = int(m["berth_go_goroutines"])
	s.heap = int64(m["berth_go_memstats_heap_inuse_bytes"])
	return s, nil
}

// status reads the numeric fields of /proc/PID/status (kB made bytes).
func status(p int) (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "status"))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n <<= 10
		}
		out[k] = n
	}
	return out, nil
}

// children lists the processes p started (its drivers).
func children(p int) []int {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(p), "task", "*", "children"))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// metricsClient reads /metrics over the daemon's unix socket.
var metricsClient = &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", strings.TrimPrefix(*host, "unix://"))
	},
	DisableKeepAlives: true, // no connection of its own left open between samples
}}

// scrape reads the daemon's metrics without labels.
func scrape(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://berth/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("metrics: %s: %s", resp.Status, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// pct is the p-th percentile of ds (nearest rank); 0 when ds is empty.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i, 1)-1]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "none"
	}
	return *p
}
