package runtimetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.Equal(h.t, 0, st.ExitCode, "exit code (stderr %q)", stderr)
	first, rest, _ := strings.Cut(stdout, "\n")
	assert.Equal(h.t, "bar|a b||t0k3n|", first, "variables seen")
	env := strings.Split(rest, "\n")
	assert.Subset(h.t, env, []string{"FOO=bar", "WITH_SPACE=a b", "TOKEN=t0k3n"}, "lines of the env output")
	assert.True(h.t, slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }),
		"env output lacks the image's PATH:\n%s", rest)
}

// testWorkingDir checks that WorkingDir sets the process's directory.
func testWorkingDir(h *harness) {
	spec := h.spec("pwd")
	spec.WorkingDir = "/tmp"
	_, stdout := h.mustSucceed(spec)
	assert.Equal(h.t, "/tmp\n", stdout, "pwd with WorkingDir /tmp")
	spec = h.sh("touch here && ls /work")
	spec.WorkingDir = "/work"
	_, stdout = h.mustSucceed(spec)
	assert.Equal(h.t, "here\n", stdout, "ls of a file made in WorkingDir /work")
}

// testFileSystem checks that containers of one image do not share files.
func testFileSystem(h *harness) {
	h.mustSucceed(h.sh("mkdir -p /work/d && echo one > /work/d/f && cat /work/d/f"))
	_, stdout := h.mustSucceed(h.sh(`test -e /work/d/f && echo leaked || echo clean`))
	assert.Equal(h.t, "clean\n", stdout, "second container of the image: does it see the first one's file?")
	_, stdout = h.mustSucceed(h.sh("echo 12345 > /tmp/n; wc -c /tmp/n; rm /tmp/n; test -f /tmp/n || echo gone"))
	assert.Regexp(h.t, `^6(?s:.*)gone\n$`, stdout, "file operations: 6 bytes counted, then gone")
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
	_, stdout := h.mustSucceed(spec)
	assert.Equal(h.t, "limited\n", stdout, "what the limited container printed")
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
			// On goroutines of their own, the jobs check with assert
			// (require's FailNow must run on the case's goroutine).
			c, err := h.tryRun(spec)
			if !assert.NoError(h.t, err, "job %d: Run", i) {
				return
			}
			st, err := h.rt.Wait(h.ctx, c.ID)
			if !assert.NoError(h.t, err, "job %d: Wait(%s)", i, c.ID) {
				return
			}
			stdout, stderr, err := h.tryLogs(h.ctx, c.ID, true)
			if !assert.NoError(h.t, err, "job %d: Logs(%s)", i, c.ID) {
				return
			}
			assert.Equal(h.t, 0, st.ExitCode, "job %d: exit code (stdout %q, stderr %q)", i, stdout, stderr)
			assert.Equal(h.t, fmt.Sprintf("job %d\n", i), stdout, "job %d: stdout", i)
			assert.Equal(h.t, fmt.Sprintf("err %d\n", i), stderr, "job %d: stderr", i)
		})
	}
	wg.Wait()
	cs, err := h.rt.ListContainers(h.ctx, h.labels())
	require.NoError(h.t, err, "ListContainers")
	assert.Len(h.t, ids(cs), n, "IDs ListContainers returned")
	for _, c := range cs {
		assert.Equal(h.t, runtime.StateExited, c.State, "state of container %s (job %s)", c.ID, c.Labels["io.berth.test.index"])
	}
}
