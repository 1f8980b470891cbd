package dashboard_test

// The dashboard in a real browser: Debian's headless Chromium, driven by
// chromedp, against berth serve's handler on a core on the fake runtime,
// over TCP with a bearer token (as the daemon serves TCP).

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/api/apitest"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/server"
	"github.com/berth-dev/berth/server/internal/sharedtest"
)

const (
	baseRef = "berth-test/base:1"
	token   = "dashboard-test-token"
)

// chromium finds the browser: $BERTH_CHROMIUM, else chromium on PATH. A
// missing browser skips the test, but fails it in CI (CI=true), where
// scripts/chromium.sh installs it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BERTH_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium (chromium on PATH or BERTH_CHROMIUM): bash scripts/chromium.sh installs it")
	}
	t.Skip("no Chromium (chromium on PATH or BERTH_CHROMIUM): bash scripts/chromium.sh installs it; skipping the browser test")
	return ""
}

// artifacts is where the test writes its screenshots: $BERTH_ARTIFACTS
// (make test sets .ci/artifacts), else a temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BERTH_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// gated is the fake runtime whose waits for a container's end block until
// the gate opens: a job stays running, as berth sees it, for as long as the
// test wants (its output is already written).
type gated struct {
	*fake.Runtime
	gate chan struct{}
}

func (g *gated) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return runtime.ExitStatus{}, ctx.Err()
	}
	return g.Runtime.Wait(ctx, id)
}

// daemon is a server on a core on the gated fake, served over TCP with a
// token, and a client of it whose traffic is checked against the document.
type daemon struct {
	url  string
	rt   *gated
	core *core.Core
	c    *client.Client
}

// hooks change what the server of a daemon sees of its core.
type hooks struct {
	// event rewrites each event of the core before the server's hub.
	event func(core.Event) core.Event
	// wrap wraps the core the server sees.
	wrap func(server.Core) server.Core
}

func newDaemon(t *testing.T, h hooks) *daemon {
	t.Helper()
	ctx := context.Background()
	rt := &gated{Runtime: fake.New(), gate: make(chan struct{})}
	t.Cleanup(func() { rt.Close() })
	tarball, err := testimage.Tar(testimage.Options{Ref: baseRef, Busybox: []byte("the fake runs no binaries")})
	require.NoError(t, err)
	_, err = rt.LoadImage(ctx, bytes.NewReader(tarball))
	require.NoError(t, err)

	hub := server.NewHub(0)
	cfg := core.Config{
		StateDir:  t.TempDir(),
		Runtimes:  core.RuntimeList{{Name: "fake", Runtime: rt}},
		Policy:    core.Policy{Enabled: true, TTL: 7 * 24 * time.Hour},
		StopGrace: 20 * time.Millisecond,
		OnEvent:   hub.Publish,
	}
	if h.event != nil {
		cfg.OnEvent = func(ev core.Event) { hub.Publish(h.event(ev)) }
	}
	c, err := core.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Recover(ctx)
	require.NoError(t, err)
	var sc server.Core = c
	if h.wrap != nil {
		sc = h.wrap(sc)
	}
	srv := server.New(server.Options{Core: sc, Events: hub, Runtimes: cfg.Runtimes, Token: token,
		Driver:      func(string) string { return "berth-driver-fake" },
		JobDefaults: server.JobDefaults{Image: baseRef}})
	srv.SetReady(nil)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(srv.Close) // first: it ends the page's streams
	cl, err := client.New(ts.URL, client.WithToken(token), client.WithTransport(apitest.New(t).Transport(t)))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &daemon{url: ts.URL, rt: rt, core: c, c: cl}
}

// start creates a job of project and work item running script.
func (d *daemon) start(t *testing.T, project, workItem, script string) string {
	t.Helper()
	req := api.CreateJobRequest{Cmd: []string{"sh", "-c", script}, Project: &project, WorkItem: &workItem}
	j, err := d.c.CreateJob(context.Background(), req, "")
	require.NoError(t, err)
	return j.Id
}

// run runs a job to its end.
func (d *daemon) run(t *testing.T, project, workItem, script string) *client.Job {
	t.Helper()
	j, err := d.c.WaitJob(context.Background(), d.start(t, project, workItem, script), time.Minute)
	require.NoError(t, err)
	require.True(t, j.Ended())
	return j
}

// console gathers what the page writes to the console.
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func (c *console) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			out = append(out, m.String()+" ("+m.URL+")")
		}
	}
	return out
}

// browser opens a tab of a new headless Chromium, with the flags this
// machine needs (no network beyond loopback: nothing in the background).
func browser(t *testing.T) (context.Context, *console) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	con := &console{}
	messages := chromedp.Console(ctx) // subscribes now: starts the browser
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			con.mu.Lock()
			con.msgs = append(con.msgs, m)
			con.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
	})
	return ctx, con
}

// within runs steps, all of them within a minute.
func within(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...), what)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	require.NoError(t, err, "evaluate %s", expr)
	return v
}

// until waits (up to a minute) for a JavaScript expression to hold.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(time.Minute)))
	require.NoError(t, err, "waiting for %s (%s)", what, expr)
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func TestDashboardInABrowser(t *testing.T) {
	// The jobs of work items "pulled" and "pull-failed", and the gc runs,
	// carry what a registry would add (see shared).
	d := newDaemon(t, hooks{event: sharedtest.Event, wrap: func(c server.Core) server.Core { return sharedtest.Core{Core: c} }})
	ctx, con := browser(t)
	dir := artifacts(t)
	t.Cleanup(func() { // before the browser closes
		if t.Failed() {
			failure(t, ctx, con, dir)
		}
	})
	bg := context.Background()

	// The page asks for the token (the daemon is on TCP), and connects with
	// it, typed and sent from the keyboard.
	within(t, ctx, "open the page",
		chromedp.Navigate(d.url+"/"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), token+kb.Enter),
		chromedp.WaitVisible(css(`#status[data-state="live"]`)),
		chromedp.WaitVisible(css(`#engines li[data-runtime="fake"][data-healthy="true"]`)),
	)
	assert.Equal(t, "Live", eval[string](t, ctx, `document.querySelector("#status").textContent`))

	// A job started through the API appears live, running, and its log
	// streams while it runs: its container's end is held back (gated).
	id := d.start(t, "web", "TICKET-42",
		"echo first line of the build; head -c 300000 /dev/urandom > /root/deps.bin; echo 'warning: cold cache' >&2")
	row := `#jobs tr[data-job="` + id + `"]`
	within(t, ctx, "the job appears running",
		chromedp.WaitVisible(css(row+`[data-state="running"]`)),
		chromedp.Click(css(row+" button")),
		chromedp.WaitVisible(css("#log-panel")),
	)
	until(t, ctx, "the job's first line in the log", `document.querySelector("#log").textContent.includes("first line of the build")`)
	j, err := d.c.GetJob(bg, id)
	require.NoError(t, err)
	assert.Equal(t, api.JobStateRunning, j.State, "the job runs while its log shows")
	assert.Equal(t, "false", eval[string](t, ctx, `document.querySelector("#log").dataset.ended`), "the log stream is open")
	assert.Equal(t, "log", eval[string](t, ctx, `document.activeElement.id`), "the log has the focus it was opened with")

	close(d.rt.gate)
	within(t, ctx, "the job's result and snapshot",
		chromedp.WaitVisible(css(`#results tr[data-job="`+id+`"]`)),
		chromedp.WaitNotPresent(css(row)),
		chromedp.WaitVisible(css(`#log[data-ended="true"]`)),
		chromedp.WaitVisible(css(`#snapshots tr[data-snapshot="web/TICKET-42"]`)),
	)
	result := `#results tr[data-job="` + id + `"] `
	assert.Equal(t, "exit 0", eval[string](t, ctx, `document.querySelector('`+result+`[data-cell="outcome"]').textContent`))
	assert.Contains(t, eval[string](t, ctx, `document.querySelector('`+result+`[data-cell="snapshot"]').textContent`), "miss")
	assert.Contains(t, eval[string](t, ctx, `document.querySelector('`+result+`[data-cell="commit"]').textContent`), "committed g1")
	assert.Contains(t, eval[string](t, ctx, `document.querySelector("#log .stderr").textContent`), "warning: cold cache",
		"stderr in the log, told apart")
	ttl := eval[string](t, ctx, `document.querySelector('#snapshots tr[data-snapshot="web/TICKET-42"] [data-cell="ttl"]').textContent`)
	assert.Regexp(t, `^6d 23h$`, ttl, "TTL left of a new snapshot with a TTL of 7 days")

	// More of everything, for the screenshots: a warm run, other work items
	// and projects, a failure, snapshots shared through a registry (faked:
	// one pulled and pushed, one whose pull and push failed), a gc run.
	warm := d.run(t, "web", "TICKET-42", "echo warm; test -f /root/deps.bin && echo the cache is there")
	pulled := d.run(t, "hosts", "pulled", "echo built > /root/out")
	pullFailed := d.run(t, "hosts", "pull-failed", "echo built > /root/out")
	d.run(t, "web", "TICKET-7", "head -c 120000 /dev/urandom > /root/deps.bin; echo built")
	d.run(t, "api", "main", "head -c 450000 /dev/urandom > /root/modules.bin; echo installed")
	failed := d.run(t, "api", "flaky", "echo 'test 3 of 9 failed' >&2; exit 3")
	_, err = d.c.GC(bg, core.SweepOptions{DryRun: true})
	require.NoError(t, err)
	within(t, ctx, "the rest shows",
		chromedp.WaitVisible(css(`#results tr[data-job="`+warm.Id+`"]`)),
		chromedp.WaitVisible(css(`#results tr[data-job="`+failed.Id+`"]`)),
		chromedp.WaitVisible(css(`#results tr[data-job="`+pulled.Id+`"]`)),
		chromedp.WaitVisible(css(`#results tr[data-job="`+pullFailed.Id+`"]`)),
		chromedp.WaitVisible(css(`#snapshots tr[data-snapshot="api/main"]`)),
		chromedp.WaitVisible(css(`#gc tbody tr`)),
		chromedp.WaitVisible(css(`#disk path[data-project="api"]`)),
		chromedp.WaitVisible(css(`#disk path[data-project="web"]`)),
	)
	assert.Contains(t, eval[string](t, ctx, `document.querySelector('#results tr[data-job="`+warm.Id+`"] [data-cell="snapshot"]').textContent`), "hit")
	assert.Equal(t, "exit 3", eval[string](t, ctx, `document.querySelector('#results tr[data-job="`+failed.Id+`"] [data-cell="outcome"]').textContent`))
	assert.Contains(t, eval[string](t, ctx, `document.querySelector("#gc tbody tr").textContent`), "dry run")
	cell := func(id, name string) string {
		return eval[string](t, ctx, `document.querySelector('#results tr[data-job="`+id+`"] [data-cell="`+name+`"]').textContent`)
	}
	assert.Equal(t, "hit pulled", cell(pulled.Id, "snapshot"), "a snapshot pulled from the registry")
	assert.Contains(t, cell(pulled.Id, "commit"), "shared")
	assert.NotContains(t, cell(pulled.Id, "commit"), "not shared")
	assert.Equal(t, "miss pull failed", cell(pullFailed.Id, "snapshot"))
	assert.Contains(t, cell(pullFailed.Id, "commit"), "not shared", "a push that failed")
	assert.NotContains(t, cell(warm.Id, "snapshot"), "pulled", "a snapshot of this host's own")
	assert.NotContains(t, cell(warm.Id, "commit"), "shared", "without a registry")
	assert.Contains(t, eval[string](t, ctx, `document.querySelector("#gc tbody tr").textContent`), "+1 shared",
		"the shared snapshots a gc run evicts")

	// Screenshots at 1280 and 390 pixels wide; at 390 nothing is wider
	// than the screen (tables scroll in their own boxes).
	for _, w := range []int64{1280, 390} {
		within(t, ctx, "resize", chromedp.EmulateViewport(w, 900))
		until(t, ctx, "the layout at the new width", `document.documentElement.clientWidth === `+itoa(w))
		if w == 390 {
			assert.LessOrEqual(t, eval[int64](t, ctx, `document.documentElement.scrollWidth`), w, "the page is no wider than the screen")
		}
		shot, cancel := context.WithTimeout(ctx, time.Minute)
		png, err := chromedp.Run(shot, chromedp.FullScreenshot(100))
		cancel()
		require.NoError(t, err)
		file := filepath.Join(dir, "dashboard-"+itoa(w)+".png")
		require.NoError(t, os.WriteFile(file, png, 0o644))
		t.Logf("screenshot: %s", file)
	}
	within(t, ctx, "back to 1280", chromedp.EmulateViewport(1280, 900))

	// Deleting a snapshot asks first; Escape keeps it.
	del := `#snapshots tr[data-snapshot="web/TICKET-42"] button`
	within(t, ctx, "ask to delete, from the keyboard",
		chromedp.Focus(css(del)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css("#confirm")),
	)
	assert.Equal(t, "confirm-keep", eval[string](t, ctx, `document.activeElement.id`), "the safe answer has the focus")
	assert.Contains(t, eval[string](t, ctx, `document.querySelector("#confirm-text").textContent`), "TICKET-42")
	within(t, ctx, "Escape keeps it", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(css("#confirm")))
	snaps, err := d.c.Snapshots(bg, "web")
	require.NoError(t, err)
	assert.Len(t, snaps, 2, "nothing deleted without a confirmation")

	// Confirmed (Tab to "Delete snapshot", Enter), it is removed.
	within(t, ctx, "delete, confirmed",
		chromedp.Focus(css(del)),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css("#confirm")),
		chromedp.KeyEvent(kb.Tab),
	)
	assert.Equal(t, "confirm-delete", eval[string](t, ctx, `document.activeElement.id`))
	within(t, ctx, "the snapshot leaves the page",
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitNotPresent(css(`#snapshots tr[data-snapshot="web/TICKET-42"]`)),
	)
	snaps, err = d.c.Snapshots(bg, "web")
	require.NoError(t, err)
	require.Len(t, snaps, 1, "web's snapshots after the delete")
	assert.Equal(t, "TICKET-7", snaps[0].WorkItem)
	assert.Contains(t, eval[string](t, ctx, `document.querySelector("#notice").textContent`), "Deleted 1 snapshot of web / TICKET-42")

	// A token in the address's fragment connects a new tab at once, and
	// leaves the address.
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	require.NoError(t, chromedp.Do(tab), "open a tab") // it lives as long as the context of its first call
	within(t, tab, "a new tab with #token=",
		chromedp.Navigate(d.url+"/#token="+token),
		chromedp.WaitVisible(css(`#status[data-state="live"]`)),
		chromedp.WaitVisible(css(`#snapshots tr[data-snapshot="api/main"]`)),
	)
	assert.Empty(t, eval[string](t, tab, `location.hash`), "the token left the address")

	assert.Empty(t, con.errors(), "console errors")
}

// failure keeps what the page showed and wrote when the test failed.
func failure(t *testing.T, ctx context.Context, con *console, dir string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		file := filepath.Join(dir, "dashboard-failure.png")
		if os.WriteFile(file, png, 0o644) == nil {
			t.Logf("the page when the test failed: %s", file)
		}
	}
	con.mu.Lock()
	defer con.mu.Unlock()
	for _, m := range con.msgs {
		t.Logf("console: %s (%s:%d)", m, m.URL, m.Line)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
