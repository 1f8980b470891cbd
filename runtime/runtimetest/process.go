package runtimetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/berth-dev/berth/runtime"
)

// processCases check what the container's process sees, and concurrency.
var processCases = []testCase{
	{"Env", testEnv},
	{"WorkingDir", testWorkingDir},
	{"FileSystem", testFileSystem},
	{"Limits", testLimits},
	{"Concurrent", testConcurrent},
}

// testEnv checks that Env and SecretEnv reach the process, on top of the
// image's environment.
func testEnv(h *harness) {
	spec := h.sh(`echo "$FOO|$WITH_SPACE|$EMPTY|$TOKEN|"; env`)
	spec.Env = []string{"FOO=bar", "WITH_SPACE=a b", "EMPTY="}
	spec.SecretEnv = []string{"TOKEN=t0k3n"}
	st, stdout, stderr := h.runToEnd(spec)
	if st.ExitCode != 0 {
		h.t.Fatalf("exit code %d (stderr %q)", st.ExitCode, stderr)
	}
	first, rest, _ := strings.Cut(stdout, "\n")
	if want := "bar|a b||t0k3n|"; first != want {
		h.t.Errorf("variables seen = %q, want %q", first, want)
	}
	env := strings.Split(rest, "\n")
	for _, want := range []string{"FOO=bar", "WITH_SPACE=a b", "TOKEN=t0k3n"} {
		if !slices.Contains(env, want) {
			h.t.Errorf("env output lacks %q:\n%s", want, rest)
		}
	}
	hasPath := false
	for _, kv := range env {
		hasPath = hasPath || strings.HasPrefix(kv, "PATH=")
	}
	if !hasPath {
		h.t.Errorf("env output lacks the image's PATH:\n%s", rest)
	}
}

// testWorkingDir checks that WorkingDir sets the process's directory.
func testWorkingDir(h *harness) {
	spec := h.spec("pwd")
	spec.WorkingDir = "/tmp"
	if _, stdout := h.mustSucceed(spec); stdout != "/tmp\n" {
		h.t.Errorf("pwd with WorkingDir /tmp = %q, want %q", stdout, "/tmp\n")
	}
	spec = h.sh("touch here && ls /work")
	spec.WorkingDir = "/work"
	if _, stdout := h.mustSucceed(spec); stdout != "here\n" {
		h.t.Errorf("ls of a file made in WorkingDir /work = %q, want %q", stdout, "here\n")
	}
}

// testFileSystem checks that containers of one image do not share files.
func testFileSystem(h *harness) {
	h.mustSucceed(h.sh("mkdir -p /work/d && echo one > /work/d/f && cat /work/d/f"))
	spec := h.sh(`test -e /work/d/f && echo leaked || echo clean`)
	if _, stdout := h.mustSucceed(spec); stdout != "clean\n" {
		h.t.Errorf("second container of the image sees the first one's file: %q", stdout)
	}
	_, stdout := h.mustSucceed(h.sh("echo 12345 > /tmp/n; wc -c /tmp/n; rm /tmp/n; test -f /tmp/n || echo gone"))
	if !strings.HasPrefix(stdout, "6") || !strings.HasSuffix(stdout, "gone\n") {
		h.t.Errorf("file operations printed %q, want 6 bytes counted then gone", stdout)
	}
}

// testLimits checks that a driver declaring CapLimits accepts limits and
// refuses negative ones. (Whether the engine enforces them is the engine's
// business; testUndeclaredCapabilities checks the refusal without
// CapLimits.)
func testLimits(h *harness) {
	if !h.needs(runtime.CapLimits) {
		return
	}
	spec := h.spec("echo", "limited")
	spec.MemoryBytes = 256 << 20
	spec.NanoCPUs = 500_000_000
	if _, stdout := h.mustSucceed(spec); stdout != "limited\n" {
		h.t.Errorf("limited container printed %q, want %q", stdout, "limited\n")
	}
	for _, bad := range []runtime.ContainerSpec{
		{Image: h.base, Cmd: []string{"true"}, Labels: h.labels(), MemoryBytes: -1},
		{Image: h.base, Cmd: []string{"true"}, Labels: h.labels(), NanoCPUs: -1},
	} {
		_, err := h.tryRun(bad)
		h.expect("Run with a negative limit", err, runtime.ErrInvalidArgument)
	}
}

// testConcurrent runs twenty containers at once; each must exit 0 with
// its own output.
func testConcurrent(h *harness) {
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			spec := h.sh(`echo "job $N"; echo "err $N" >&2`)
			spec.Env = []string{fmt.Sprintf("N=%d", i)}
			spec.Labels = h.labels("io.berth.test.index", fmt.Sprint(i))
			c, err := h.tryRun(spec)
			if err != nil {
				h.t.Errorf("job %d: Run: %v", i, err)
				return
			}
			st, err := h.rt.Wait(h.ctx, c.ID)
			if err != nil {
				h.t.Errorf("job %d: Wait: %v", i, err)
				return
			}
			stdout, stderr, err := h.tryLogs(h.ctx, c.ID, true)
			if err != nil {
				h.t.Errorf("job %d: Logs: %v", i, err)
				return
			}
			want := fmt.Sprintf("job %d\n", i)
			if st.ExitCode != 0 || stdout != want || stderr != fmt.Sprintf("err %d\n", i) {
				h.t.Errorf("job %d: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", i, st.ExitCode, stdout, stderr, want)
			}
		})
	}
	wg.Wait()
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	if err != nil {
		h.t.Fatalf("ListContainers: %v", err)
	}
	if len(cs) != n {
		h.t.Errorf("ListContainers: %d containers, want %d", len(cs), n)
	}
	for _, c := range cs {
		if c.State != runtime.StateExited {
			h.t.Errorf("container %s (%s) state %q, want %q", c.ID, c.Labels["io.berth.test.index"], c.State, runtime.StateExited)
		}
	}
}
