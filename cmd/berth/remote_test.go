package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime"
	fakeruntime "github.com/berth-dev/berth/runtime/fake"
)

// outcome is what one berth command did.
type outcome struct {
	Code           int
	Stdout, Stderr string
}

// ways runs berth with args three ways: in process (no host named), then
// through the daemon at host named by BERTH_HOST, then by --host. It
// returns the outcomes in that order.
func (f *fake) ways(host string, args ...string) [3]outcome {
	f.t.Helper()
	var out [3]outcome
	f.t.Setenv("BERTH_HOST", "")
	out[0].Code, out[0].Stdout, out[0].Stderr = f.berth(args...)
	f.t.Setenv("BERTH_HOST", host)
	out[1].Code, out[1].Stdout, out[1].Stderr = f.berth(args...)
	f.t.Setenv("BERTH_HOST", "")
	out[2].Code, out[2].Stdout, out[2].Stderr = f.berth(append([]string{"--host", host}, args...)...)
	return out
}

// sameWays asserts that the outcomes through the daemon are the one in
// process, once normalized by norm.
func sameWays(t *testing.T, out [3]outcome, norm func(outcome) outcome, what string) {
	t.Helper()
	want := norm(out[0])
	assert.Equal(t, want, norm(out[1]), "%s: in process (want) and through the daemon named by BERTH_HOST", what)
	assert.Equal(t, want, norm(out[2]), "%s: in process (want) and through the daemon named by --host", what)
}

var (
	jobIDs    = regexp.MustCompile(`\bj[0-9a-f]{20}\b`)
	durations = regexp.MustCompile(`\b(start|run|commit|total) [0-9][0-9.]*[a-zµ]*`)
)

// summaryNorm normalizes what differs from job to job in a summary line
// and in output: job IDs and durations.
func summaryNorm(o outcome) outcome {
	for _, s := range []*string{&o.Stdout, &o.Stderr} {
		*s = durations.ReplaceAllString(jobIDs.ReplaceAllString(*s, "JOB"), "$1 D")
	}
	return o
}

// resultNorm normalizes the JSON result on stdout: its job ID and
// durations (the set of duration fields is kept); the rest as
// summaryNorm.
func resultNorm(t *testing.T) func(outcome) outcome {
	return func(o outcome) outcome {
		var res map[string]any
		if !assert.NoError(t, json.Unmarshal([]byte(o.Stdout), &res), "the result on stdout: %q", o.Stdout) {
			return o
		}
		res["job_id"] = "JOB"
		if d, ok := res["durations"].(map[string]any); assert.True(t, ok, "the result's durations: %v", res["durations"]) {
			for k := range d {
				d[k] = "D"
			}
		}
		b, err := json.Marshal(res)
		require.NoError(t, err)
		o.Stdout = string(b)
		return summaryNorm(o)
	}
}

func same(o outcome) outcome { return o }

// socket is the address of the daemon of f, in the form given.
func (f *fake) socket(form string) string {
	p := filepath.Join(f.state, "berth.sock")
	if form == "unix" {
		return "unix://" + p
	}
	return p
}

// freeTCP returns tcp://127.0.0.1:PORT with a port nothing listens on
// (now).
func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

// TestRemoteRun: berth run through a daemon prints what it prints in
// process (the job's output, the summary line or the --json result) and
// exits with the same code: the job's own, 124 on timeout, 125 when berth
// fails.
func TestRemoteRun(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	host := f.socket("unix")
	for _, c := range []struct {
		name string
		args []string
		code int
		norm func(outcome) outcome
	}{
		{"success", []string{"--", "sh", "-c", "echo out; echo err >&2; echo more"}, 0, summaryNorm},
		{"exit code", []string{"--", "sh", "-c", "echo failing; exit 3"}, 3, summaryNorm},
		{"timeout", []string{"--timeout", "200ms", "--", "sh", "-c", "echo before; sleep 30"}, exitTimeout, summaryNorm},
		{"json", []string{"--json", "--", "sh", "-c", "echo out; echo err >&2"}, 0, resultNorm(t)},
		{"json exit code", []string{"--json", "--label", "k=v", "--env", "A=1", "--", "sh", "-c", `echo "$A"; exit 7`}, 7, resultNorm(t)},
		{"json timeout", []string{"--json", "--timeout", "200ms", "--", "sleep", "30"}, exitTimeout, resultNorm(t)},
		{"secret env", []string{"--secret-env", "S=from the client", "--memory", "64m", "--cpus", "0.3", "--",
			"sh", "-c", `echo "$S"`}, 0, summaryNorm},
		// In process, the driver launched beside the core is stopped
		// mid-launch, on purpose: no line of go-plugin's says so.
		{"invalid job in the core", []string{"--label", "io.berth.x=1", "--", "true"}, exitFailed, same},
		{"invalid job before the core", []string{"--memory", "lots", "--", "true"}, exitFailed, same},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--image", "base:latest"}, c.args...)
			out := f.ways(host, args...)
			require.Equal(t, c.code, out[0].Code, "exit code in process; stderr: %s", out[0].Stderr)
			sameWays(t, out, c.norm, strings.Join(args, " "))
			if c.code == exitFailed {
				assert.Len(t, lines(out[1].Stderr), 1, "one line on stderr")
			}
		})
	}
	d.stop(f)
}

// TestRemoteRunCommits: a job of a work item through a daemon commits a
// snapshot, and the next job of the work item in process starts from it
// (and the other way round): one state, whichever way.
func TestRemoteRunCommits(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	t.Setenv("BERTH_HOST", f.socket("unix"))
	code, _, stderr := f.berth("run", "--image", "base:latest", "--work-item", "w", "--", "sh", "-c", "echo kept > /kept")
	require.Equal(t, 0, code, "the first job's exit code; stderr: %s", stderr)
	assert.Contains(t, stderr, "committed berth/default-w-", "the first job's summary")
	t.Setenv("BERTH_HOST", "")
	code, stdout, stderr := f.berth("run", "--image", "base:latest", "--work-item", "w", "--", "cat", "/kept")
	require.Equal(t, 0, code, "the second job's exit code; stderr: %s", stderr)
	assert.Equal(t, "kept\n", stdout, "the second job's output")
	assert.Contains(t, stderr, "snapshot hit berth/default-w-", "the second job's summary")
	d.stop(f)
}

// TestRemoteSnapshotsAndGC: snapshots ls (--json, --project), snapshots
// rm, gc (--dry-run, --json) print the same through a daemon as in
// process, on one state.
func TestRemoteSnapshotsAndGC(t *testing.T) {
	f := newFake(t, "snapshots:\n  max_count: 2\n")
	for _, wi := range []struct{ project, item string }{{"p1", "a"}, {"p1", "b"}, {"p2", "c"}} {
		code, _, stderr := f.berth("run", "--image", "base:latest", "--project", wi.project, "--work-item", wi.item,
			"--", "sh", "-c", "echo "+wi.item+" > /f")
		require.Equal(t, 0, code, "job of %v; stderr: %s", wi, stderr)
	}
	d := f.serve()
	host := f.socket("path")
	for _, args := range [][]string{
		{"snapshots", "ls"},
		{"snapshots", "ls", "--json"},
		{"snapshots", "ls", "--project", "p1", "--json"},
		{"snapshots", "ls", "--project", "none", "--json"},
		{"gc", "--dry-run"},
		{"gc", "--dry-run", "--json"},
		{"gc", "--dry-run", "--orphan-grace", "0", "--json"},
		{"snapshots", "rm", "--project", "p1", "--work-item", "none"},
		{"snapshots", "rm", "--project", "p1", "--work-item", ""},
	} {
		out := f.ways(host, args...)
		sameWays(t, out, same, strings.Join(args, " "))
		if args[0] == "snapshots" && args[1] == "rm" {
			assert.Equal(t, exitFailed, out[0].Code, "%v: exit code", args)
			assert.Contains(t, out[0].Stderr, "no snapshot of project", "%v: stderr", args)
		} else {
			assert.Equal(t, 0, out[0].Code, "%v: exit code; stderr: %s", args, out[0].Stderr)
		}
	}
	var dry core.SweepReport
	_, stdout, _ := f.berth("gc", "--dry-run", "--json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &dry))
	require.Len(t, dry.Evicted, 1, "the dry run evicts one snapshot of three (max_count 2)")

	// What changes the state, once each way: the same report.
	t.Setenv("BERTH_HOST", host)
	code, viaDaemon, stderr := f.berth("gc", "--json")
	require.Equal(t, 0, code, "gc through the daemon; stderr: %s", stderr)
	var rep core.SweepReport
	require.NoError(t, json.Unmarshal([]byte(viaDaemon), &rep))
	assert.Equal(t, dry.Evicted, rep.Evicted, "gc through the daemon evicts what the dry run said")
	code, removedVia, stderr := f.berth("snapshots", "rm", "--project", "p2", "--work-item", "c")
	require.Equal(t, 0, code, "snapshots rm through the daemon; stderr: %s", stderr)
	assert.Regexp(t, `\Aremoved berth/p2-c-[0-9a-f]+:g1 \(generation 1, `, removedVia, "snapshots rm through the daemon")

	t.Setenv("BERTH_HOST", "")
	code, _, stderr = f.berth("run", "--image", "base:latest", "--project", "p2", "--work-item", "c", "--", "sh", "-c", "echo c > /f")
	require.Equal(t, 0, code, "a new snapshot of p2/c; stderr: %s", stderr)
	code, removedIn, stderr := f.berth("snapshots", "rm", "--project", "p2", "--work-item", "c")
	require.Equal(t, 0, code, "snapshots rm in process; stderr: %s", stderr)
	gen := regexp.MustCompile(`:g[0-9]+ \(generation [0-9]+,`)
	assert.Equal(t, gen.ReplaceAllString(removedIn, "GEN"), gen.ReplaceAllString(removedVia, "GEN"), "snapshots rm's output, in process and through the daemon")
	d.stop(f)
}

// TestRemotePluginsLs: plugins ls through a daemon lists the daemon's
// runtime as plugins ls lists its driver in process; only PATH differs
// (the daemon's API names the driver as configured, not its path).
func TestRemotePluginsLs(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	for _, args := range [][]string{{"plugins", "ls"}, {"plugins", "ls", "--json"}} {
		out := f.ways(f.socket("unix"), args...)
		require.Equal(t, 0, out[0].Code, "%v in process; stderr: %s", args, out[0].Stderr)
		path := filepath.Join(fakeDriverDir(t), "berth-driver-fake")
		require.Contains(t, out[0].Stdout, path, "%v in process", args)
		norm := func(o outcome) outcome {
			o.Stdout = strings.ReplaceAll(o.Stdout, path, "fake")
			o.Stdout = regexp.MustCompile(`fake( *)\n`).ReplaceAllString(o.Stdout, "fake\n") // the table's last column
			return o
		}
		sameWays(t, out, norm, strings.Join(args, " "))
	}
	d.stop(f)
}

// TestRemoteFork: snapshots fork prints the new snapshot as snapshots ls
// does (or, with --json, as one object), in process and through the daemon
// alike; a work item without snapshot is one line and 125 both ways.
func TestRemoteFork(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	host := f.socket("unix")
	code, _, stderr := f.berth("run", "--image", "base:latest", "--project", "p", "--work-item", "a", "--", "sh", "-c", "echo from-a > /f")
	require.Equal(t, 0, code, "a snapshot of p/a; stderr: %s", stderr)

	out := f.ways(host, "snapshots", "fork", "--project", "p", "--work-item", "none", "--to-work-item", "b")
	assert.Equal(t, exitFailed, out[0].Code, "snapshots fork of a work item without snapshot: exit code")
	assert.Equal(t, "berth: no snapshot of project \"p\" work item \"none\"\n", out[0].Stderr, "snapshots fork of a work item without snapshot: stderr")
	sameWays(t, out, same, "snapshots fork of a work item without snapshot")

	// Each way forks onto b once more: generations 1, 2, 3.
	gen := regexp.MustCompile(`:g[0-9]+`)
	norm := func(o outcome) outcome {
		var sn core.Snapshot
		if assert.NoError(t, json.Unmarshal([]byte(o.Stdout), &sn), "snapshots fork --json: %q", o.Stdout) {
			assert.False(t, sn.Created.IsZero(), "snapshots fork --json: created")
			sn.Image, sn.ImageID, sn.Generation, sn.Created, sn.LastUsed = gen.ReplaceAllString(sn.Image, ":GEN"), "", 0, time.Time{}, time.Time{}
			b, _ := json.Marshal(sn)
			o.Stdout = string(b)
		}
		return o
	}
	out = f.ways(host, "snapshots", "fork", "--project", "p", "--work-item", "a", "--to-work-item", "b", "--json")
	require.Equal(t, 0, out[0].Code, "snapshots fork --json: exit code; stderr: %s", out[0].Stderr)
	assert.Regexp(t, `"work_item": "b"`, out[0].Stdout, "snapshots fork --json")
	sameWays(t, out, norm, "snapshots fork --json")

	code, stdout, stderr := f.berth("snapshots", "fork", "--project", "p", "--work-item", "a", "--to-project", "q", "--to-work-item", "b")
	require.Equal(t, 0, code, "snapshots fork in process; stderr: %s", stderr)
	assert.Regexp(t, `\APROJECT +WORK ITEM +GEN +IMAGE [^\n]*\nq +b +1 +berth/q-b-[0-9a-f]+:g1 `, stdout, "snapshots fork: as snapshots ls prints it")
	code, stdout, stderr = f.berth("run", "--image", "base:latest", "--project", "q", "--work-item", "b", "--", "cat", "/f")
	require.Equal(t, 0, code, "a job of q/b; stderr: %s", stderr)
	assert.Equal(t, "from-a\n", stdout, "what a job of q/b sees after the fork")
	assert.Contains(t, stderr, "hit", "summary of the job of q/b")
	d.stop(f)
}

// TestRemoteOnly: images import refuses to run when a daemon is named.
func TestRemoteOnly(t *testing.T) {
	f := newFake(t, "")
	d := f.serve()
	t.Setenv("BERTH_HOST", f.socket("unix"))
	code, stdout, stderr := f.berth("images", "import", filepath.Join(f.dir, "base.tar"))
	assert.Equal(t, exitFailed, code, "images import through a daemon: exit code")
	assert.Empty(t, stdout, "images import through a daemon: stdout")
	assert.Regexp(t, `\Aberth: images import runs in process only [^\n]*BERTH_HOST[^\n]*\n\z`, stderr, "images import through a daemon: stderr")
	// --host '' runs in process, whatever names a daemon.
	code, _, stderr = f.berth("--host", "", "images", "import", filepath.Join(f.dir, "base.tar"))
	assert.Equal(t, 0, code, "images import --host '': exit code; stderr: %s", stderr)
	d.stop(f)
}

// TestRemoteUnreachable: a daemon named but not answering is an error
// (exit 125, one line naming its address), never a silent fallback to
// running in process.
func TestRemoteUnreachable(t *testing.T) {
	f := newFake(t, "")
	closed := freeTCP(t)
	for _, host := range []string{"unix://" + filepath.Join(f.dir, "none.sock"), filepath.Join(f.dir, "none.sock"), closed} {
		t.Setenv("BERTH_HOST", host)
		for _, args := range [][]string{
			{"run", "--image", "base:latest", "--", "true"},
			{"snapshots", "ls"},
			{"snapshots", "rm", "--project", "p", "--work-item", "w"},
			{"gc", "--json"},
			{"plugins", "ls"},
		} {
			code, stdout, stderr := f.berth(args...)
			assert.Equal(t, exitFailed, code, "%v with BERTH_HOST=%s: exit code", args, host)
			assert.Empty(t, stdout, "%v with BERTH_HOST=%s: stdout", args, host)
			assert.Regexp(t, `\Aberth: daemon at `+regexp.QuoteMeta(host)+` \(BERTH_HOST\) not reachable: [^\n]*\n\z`, stderr,
				"%v with BERTH_HOST=%s: one line naming the host", args, host)
		}
	}
	t.Setenv("BERTH_HOST", "ssh://box")
	code, _, stderr := f.berth("snapshots", "ls")
	assert.Equal(t, exitFailed, code, "BERTH_HOST=ssh://box: exit code")
	assert.Regexp(t, `\Aberth: BERTH_HOST: [^\n]*ssh://box[^\n]*\n\z`, stderr, "BERTH_HOST=ssh://box: one line naming it")
}

// TestRemoteHostFromConfig: the config's host names the daemon (berth
// serve itself ignores it), and --host ” runs in process.
func TestRemoteHostFromConfig(t *testing.T) {
	f := newFake(t, "")
	cfg := filepath.Join(f.dir, "host.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("host: "+f.socket("unix")+"\n"), 0o600))
	t.Setenv("BERTH_CONFIG", cfg)
	d := f.serve()
	code, stdout, stderr := f.berth("run", "--image", "base:latest", "--", "sh", "-c", "echo hi")
	require.Equal(t, 0, code, "run through the config's daemon; stderr: %s", stderr)
	assert.Equal(t, "hi\n", stdout, "run through the config's daemon")
	jobs, err := d.c.ListJobs(context.Background(), client.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, jobs, 1, "the daemon's jobs")
	d.stop(f)

	code, _, stderr = f.berth("snapshots", "ls")
	assert.Equal(t, exitFailed, code, "snapshots ls with the config's daemon stopped")
	assert.Contains(t, stderr, "(config host) not reachable", "snapshots ls with the config's daemon stopped")
	code, _, stderr = f.berth("--host", "", "snapshots", "ls")
	assert.Equal(t, 0, code, "snapshots ls --host '': exit code; stderr: %s", stderr)
}

// TestRemoteTCPToken: on TCP the command sends the token of --token-file
// or BERTH_TOKEN; a wrong one is refused with one line saying so.
func TestRemoteTCPToken(t *testing.T) {
	f := newFake(t, "")
	addr := freeTCP(t)
	t.Setenv("BERTH_TOKEN", "s3cr3t-token")
	cmd, stderr := f.start("serve", "--listen", addr)
	c, err := client.New(addr, client.WithToken("s3cr3t-token"))
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return c.Ready(context.Background()) == nil }, time.Minute, 10*time.Millisecond,
		"berth serve on %s never got ready; its stderr: %s", addr, stderr)

	t.Setenv("BERTH_HOST", addr)
	code, stdout, errOut := f.berth("run", "--image", "base:latest", "--", "sh", "-c", "echo over tcp")
	require.Equal(t, 0, code, "run over TCP with BERTH_TOKEN; stderr: %s", errOut)
	assert.Equal(t, "over tcp\n", stdout, "run over TCP")

	tokenFile := filepath.Join(f.dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cr3t-token\n"), 0o600))
	t.Setenv("BERTH_TOKEN", "wrong")
	code, _, errOut = f.berth("--token-file", tokenFile, "snapshots", "ls", "--json")
	assert.Equal(t, 0, code, "snapshots ls with --token-file; stderr: %s", errOut)
	code, stdout, errOut = f.berth("snapshots", "ls")
	assert.Equal(t, exitFailed, code, "snapshots ls with a wrong token: exit code")
	assert.Empty(t, stdout, "snapshots ls with a wrong token: stdout")
	assert.Regexp(t, `\Aberth: daemon at `+regexp.QuoteMeta(addr)+`: [^\n]*--token-file[^\n]*\n\z`, errOut, "snapshots ls with a wrong token: stderr")
	assert.NotContains(t, errOut, "wrong", "the error holds the token")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "berth serve's exit; its stderr: %s", stderr)
}

// TestRemoteRunInterrupted: SIGINT to berth run through a daemon cancels
// the job there: berth exits 130 once it ended, its record says
// cancelled, and no container is left.
func TestRemoteRunInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			f := newFake(t, "")
			d := f.serve()
			t.Setenv("BERTH_HOST", f.socket("unix"))
			run, stderr := f.start("run", "--image", "base:latest", "--work-item", "w", "--", "sh", "-c", "echo started; sleep 3600")
			ctx := context.Background()
			var job client.Job
			require.Eventually(t, func() bool {
				jobs, err := d.c.ListJobs(ctx, client.ListOptions{State: core.JobRunning})
				if err != nil || len(jobs) == 0 {
					return false
				}
				job = jobs[0]
				return true
			}, time.Minute, 10*time.Millisecond, "the job never ran; berth run's stderr: %s", stderr)

			require.NoError(t, run.Process.Signal(sig))
			ended := make(chan error, 1)
			go func() { ended <- run.Wait() }()
			var err error
			select {
			case err = <-ended:
			case <-time.After(time.Minute):
				require.FailNow(t, "berth run goes on after "+sig.String(), "its stderr: %s", stderr)
			}
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "berth run after %s; stderr: %s", sig, stderr)
			assert.Equal(t, exitInterrupt, ee.ExitCode(), "berth run's exit code after %s; stderr: %s", sig, stderr)
			assert.Regexp(t, `(?m)^berth: cancelled · `, stderr.String(), "berth run's summary")

			got, err := d.c.GetJob(ctx, job.Id)
			require.NoError(t, err)
			assert.Equal(t, api.JobStateCancelled, got.State, "the job's state")
			res, ok := got.Result()
			require.True(t, ok, "the job has ended")
			assert.True(t, res.Cancelled, "the job's result says cancelled")
			assert.False(t, res.Commit.Committed, "a cancelled job is not committed")
			d.stop(f)

			rt := fakeruntime.New(fakeruntime.WithStateDir(filepath.Join(f.state, "fake")))
			ctrs, err := rt.ListContainers(ctx, runtime.LabelFilter{core.LabelManagedBy: core.ManagedBy})
			require.NoError(t, err)
			assert.Empty(t, ctrs, "containers left")
		})
	}
}

// TestRemoteRunAcrossRestart: a daemon that stops (leaving its job) and
// starts again under a berth run that follows the job: berth run prints
// the job's output once, and the summary and exit code of the job as the
// new daemon records its end.
func TestRemoteRunAcrossRestart(t *testing.T) {
	f := newFake(t, "")
	d := f.serve("--on-stop", "leave")
	t.Setenv("BERTH_HOST", f.socket("unix"))
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.Code, o.Stdout, o.Stderr = f.berth("run", "--image", "base:latest", "--",
			"sh", "-c", "echo before; echo err >&2; sleep 1; echo after; exit 4")
		done <- o
	}()
	ctx := context.Background()
	var job client.Job
	require.Eventually(t, func() bool {
		jobs, err := d.c.ListJobs(ctx, client.ListOptions{State: core.JobRunning})
		if err != nil || len(jobs) != 1 {
			return false
		}
		job = jobs[0]
		return true
	}, time.Minute, 10*time.Millisecond, "the job never ran")
	d.stop(f)
	next := f.serve()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(time.Minute):
		require.FailNow(t, "berth run goes on after the job's end")
	}

	rec, err := next.c.GetJob(ctx, job.Id)
	require.NoError(t, err)
	res, ok := rec.Result()
	require.True(t, ok, "the job has ended: %s", rec.State)
	var logs [3]strings.Builder
	require.NoError(t, next.c.Logs(ctx, job.Id, false, func(s core.Stream, b []byte) error {
		logs[s].Write(b)
		return nil
	}))
	require.Contains(t, logs[core.Stdout].String(), "before\n", "the job's output as the new daemon keeps it")
	assert.Equal(t, res.ExitCode, o.Code, "berth run's exit code; stderr: %s", o.Stderr)
	assert.Equal(t, logs[core.Stdout].String(), o.Stdout, "berth run's stdout: the job's")
	assert.Regexp(t, `\A`+regexp.QuoteMeta(logs[core.Stderr].String())+`berth: exit `+strconv.Itoa(res.ExitCode)+` · [^\n]*\n\z`,
		o.Stderr, "berth run's stderr: the job's, then the summary")
	next.stop(f)
}
