package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// children returns the PIDs of pid's child processes whose program (the
// base name of argv[0]: a driver is executed through a file descriptor, so
// its command name says nothing) starts with prefix.
func children(t *testing.T, pid int, prefix string) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var out []int
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...
		s := string(b)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		argv, err := os.ReadFile(filepath.Join(filepath.Dir(path), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(argv), "\x00")
		if !strings.HasPrefix(filepath.Base(argv0), prefix) {
			continue
		}
		child, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		out = append(out, child)
	}
	return out
}

// driverKilled: the driver process of berth serve is killed (kill -9) while
// a job runs. The daemon relaunches it and the job's wait and output go on:
// on an engine the job ends as if nothing happened, committed; on the fake
// the container ran in the killed driver and ends killed (137).
func driverKilled(t *testing.T, e *env) {
	d := e.serve()
	j := d.create("w", "echo a; sleep 3; echo b; echo b > /work/b")
	d.running(j.Id)
	drivers := children(t, d.cmd.Process.Pid, "berth-driver")
	require.Len(t, drivers, 1, "berth serve's driver processes")
	require.NoError(t, syscall.Kill(drivers[0], syscall.SIGKILL))

	got, res := d.wait(j.Id)
	assert.Equal(t, api.JobStateExited, got.State, "the job's state after its driver was killed: %+v", got.Error)
	if e.s.tg.module == "" {
		assert.Equal(t, 137, res.ExitCode, "the fake's container died with its driver")
		assert.False(t, res.Commit.Committed)
	} else {
		assert.Equal(t, 0, res.ExitCode, "the job ran on: %+v", res)
		assert.True(t, res.Commit.Committed, "committed after the driver's relaunch: %+v", res.Commit)
		assert.Equal(t, "a\nb\n", d.logs(j.Id), "the whole output, once")
	}
	relaunched := children(t, d.cmd.Process.Pid, "berth-driver")
	require.Len(t, relaunched, 1, "berth serve's driver processes after the job")
	assert.NotEqual(t, drivers[0], relaunched[0], "the driver was relaunched")
	next := d.create("w", "echo next; echo next > /work/next")
	_, res = d.wait(next.Id)
	assert.Equal(t, 0, res.ExitCode, "a job after the relaunch")
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "berth serve's exit code (output %q)", d.output())
	e.noContainers()
}

// engineProcess names the process of an engine the scenario may restart,
// and the scripts/engines.sh argument that starts it again.
var engineProcess = map[string]struct{ match, start string }{
	"docker": {"dockerd", "docker"},
	"podman": {"podman system service", "podman"},
}

// engineRestarted: the engine (dockerd, the Podman service) restarts while
// a job runs through berth serve. The job ends, with its exit or a clear
// error, and is committed only if it exited 0; the state stays consistent
// (nothing left once swept) and the next jobs work. Docker and Podman
// only: containerd's restart is not an engine restart for its containers
// (their shims live on), and the fake has no engine process.
func engineRestarted(t *testing.T, e *env) {
	proc, ok := engineProcess[e.s.tg.name]
	if !ok {
		t.Logf("%s: no engine process to restart", e.s.tg.name)
		return
	}
	d := e.serve()
	j := d.create("w", "echo a; sleep 5; echo b; echo b > /work/b")
	d.running(j.Id)

	out, err := exec.Command("pgrep", "-f", "-o", "^"+proc.match).Output()
	require.NoError(t, err, "the engine's process (%s)", proc.match)
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM), "stop the engine")
	require.Eventually(t, func() bool { return syscall.Kill(pid, 0) != nil }, 2*time.Minute, 50*time.Millisecond,
		"the engine (pid %d) stopped", pid)
	start := exec.Command("bash", filepath.Join(repoRoot, "scripts", "engines.sh"), proc.start)
	start.Stdout, start.Stderr = os.Stderr, os.Stderr
	require.NoError(t, start.Run(), "start the engine again")

	got, res := d.wait(j.Id)
	t.Logf("job across the engine's restart: state %s, exit %d, commit %+v, error %+v", got.State, res.ExitCode, res.Commit, got.Error)
	if got.State == api.JobStateExited {
		// The container lived through the restart (Podman's conmon keeps
		// it): its own end, committed as usual.
		assert.Equal(t, 0, res.ExitCode, "a job that lived through the restart exits with its own code")
		assert.True(t, res.Commit.Committed, "a job that exited 0 is committed: %+v", res.Commit)
	} else {
		// The engine killed the container as it stopped (dockerd): the
		// job fails, saying so, and is not committed.
		require.Equal(t, api.JobStateFailed, got.State, "the job's state")
		require.NotNil(t, got.Error)
		assert.Contains(t, got.Error.Type, string(core.KindUnavailable), "the error's kind: %+v", got.Error)
		assert.Contains(t, got.Error.Detail, "the engine stopped while the job ran", "a failed job says why")
		assert.False(t, res.Commit.Committed, "a job the restart ended is not committed")
	}
	next := d.create("w", "echo next; echo next > /work/next")
	_, res = d.wait(next.Id)
	assert.Equal(t, 0, res.ExitCode, "a job after the engine's restart: %+v", res)
	assert.True(t, res.Commit.Committed, "the job after the restart is committed")
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "berth serve's exit code (output %q)", d.output())
	// Whatever the restart left (a container the engine could not remove
	// while down) goes with the sweep.
	gcOut := e.berth("gc", "--orphan-grace", "0")
	require.Equal(t, 0, gcOut.code, "gc: %v", gcOut)
	e.noContainers()
}

// crashInjected: the fake's crash injection under berth serve. The fake
// driver crashes in its first Wait (faults "wait:1:crash"), with a job's
// container in it: the daemon relaunches the driver, the job ends killed
// (137) and is not committed, the next job of the work item runs and is
// committed, and nothing is left. Engines: see driverKilled and
// engineRestarted.
func crashInjected(t *testing.T, e *env) {
	if e.s.tg.module != "" {
		t.Logf("%s: crash injection is the fake's", e.s.tg.name)
		return
	}
	e.writeConfig(runtimeConfig(e.s.tg.name, e.s.tg.name, "", map[string]string{
		"state_dir": filepath.Join(e.stateDir, "fake"),
		"faults":    "wait:1:crash",
	}))
	d := e.serve()
	drivers := children(t, d.cmd.Process.Pid, "berth-driver")
	j := d.create("w", "echo a; sleep 1; echo b")
	got, res := d.wait(j.Id)
	assert.Equal(t, api.JobStateExited, got.State, "the job's state after its driver crashed: %+v", got.Error)
	assert.Equal(t, 137, res.ExitCode, "the fake's container died with its driver")
	assert.False(t, res.Commit.Committed, "a killed job is not committed: %+v", res.Commit)
	relaunched := children(t, d.cmd.Process.Pid, "berth-driver")
	require.Len(t, relaunched, 1, "berth serve's driver processes after the crash")
	assert.NotEqual(t, drivers, relaunched, "the driver was relaunched")

	next := d.create("w", "echo next; echo next > /work/next")
	_, res = d.wait(next.Id)
	assert.Equal(t, 0, res.ExitCode, "a job after the crash")
	assert.True(t, res.Commit.Committed, "the job after the crash is committed: %+v", res.Commit)
	assert.Equal(t, "next\n", d.logs(next.Id))
	assert.Equal(t, 0, d.stop(syscall.SIGTERM), "berth serve's exit code (output %q)", d.output())
	e.noContainers()
}
