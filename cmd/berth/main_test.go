package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// asBerthEnv, set to 1 in the environment of this test binary, makes it
// run as the berth command: tests start it so to kill a berth process.
const asBerthEnv = "BERTH_TEST_AS_BERTH"

// fakeBuild is berth-driver-fake, built on first use into dir.
var fakeBuild struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	if os.Getenv(asBerthEnv) == "1" {
		main()
		return
	}
	code := m.Run()
	if fakeBuild.dir != "" {
		os.RemoveAll(fakeBuild.dir)
	}
	os.Exit(code)
}

// fakeDriverDir returns a directory that holds berth-driver-fake and
// nothing else.
func fakeDriverDir(t testing.TB) string {
	t.Helper()
	fakeBuild.once.Do(func() {
		if fakeBuild.dir, fakeBuild.err = os.MkdirTemp("", "berth-cli-test-"); fakeBuild.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(fakeBuild.dir, "berth-driver-fake"),
			"github.com/berth-dev/berth/cmd/berth-driver-fake").CombinedOutput()
		if err != nil {
			fakeBuild.err = &buildError{err: err, out: out}
		}
	})
	require.NoError(t, fakeBuild.err)
	return fakeBuild.dir
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "build berth-driver-fake: " + e.err.Error() + "\n" + string(e.out)
}

// fake is berth set up on the fake runtime, in the test's environment: a
// state directory, the fake driver's plugin directory, a config file if
// one is given, and the base image base:latest.
type fake struct {
	t      *testing.T
	dir    string // the test's own directory
	state  string
	config string // "" for none
}

// newFake sets berth up on the fake runtime; config, if not empty, is the
// content of its config file.
func newFake(t *testing.T, config string) *fake {
	t.Helper()
	f := &fake{t: t, dir: t.TempDir()}
	f.state = filepath.Join(f.dir, "state")
	t.Setenv("BERTH_STATE_DIR", f.state)
	t.Setenv("BERTH_PLUGIN_DIR", fakeDriverDir(t))
	t.Setenv("BERTH_RUNTIME", "fake")
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(f.dir, "xdg"))
	for _, k := range []string{"BERTH_CONFIG", "BERTH_LOG_LEVEL", "BERTH_METRICS_FILE"} {
		t.Setenv(k, "")
	}
	if config != "" {
		f.config = filepath.Join(f.dir, "berth.yaml")
		require.NoError(t, os.WriteFile(f.config, []byte(config), 0o600))
		t.Setenv("BERTH_CONFIG", f.config)
	}
	tarball, err := testimage.Tar(testimage.Options{Ref: "base:latest", Busybox: []byte("the fake runs no binaries")})
	require.NoError(t, err)
	tar := filepath.Join(f.dir, "base.tar")
	require.NoError(t, os.WriteFile(tar, tarball, 0o644))
	code, _, stderr := f.berth("images", "import", "--ref", "base:latest", tar)
	require.Equal(t, 0, code, "images import's exit code; stderr: %s", stderr)
	return f
}

// berth runs berth in this process. Its output goes to syncBuffers: the
// drivers' output and logs are written from goroutines of their own.
func (f *fake) berth(args ...string) (code int, stdout, stderr string) {
	f.t.Helper()
	var out, errb syncBuffer
	code = execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// start runs berth as a process of its own (this test binary), with the
// test's environment; its stderr goes to the returned buffer.
func (f *fake) start(args ...string) (*exec.Cmd, *syncBuffer) {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asBerthEnv+"=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(f.t, cmd.Start())
	f.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, &stderr
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// children returns the process IDs whose parent is pid.
func children(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids, nil
}

// waitDriver waits until berth process pid runs a driver that serves (its
// socket exists) and returns the driver's pid.
func waitDriver(t *testing.T, pid int, stderr *syncBuffer) int {
	t.Helper()
	var driver int
	var procErr error // the condition runs on a goroutine of its own: no FailNow there
	require.Eventually(t, func() bool {
		kids, err := children(pid)
		if err != nil {
			procErr = err
			return true
		}
		for _, kid := range kids {
			if exe, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(kid), "exe")); err == nil &&
				filepath.Base(exe) == "berth-driver-fake" && serving(kid) {
				driver = kid
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "berth (pid %d) started no driver; its stderr: %s", pid, stderr)
	require.NoError(t, procErr, "read /proc")
	return driver
}

// serving reports whether process pid listens on a unix socket.
func serving(pid int) bool {
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", fd.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			return true
		}
	}
	return false
}

// gone waits until process pid no longer exists.
func gone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
		return err != nil
	}, 10*time.Second, 10*time.Millisecond, "process %d still exists", pid)
}

// shortTempDir is a temporary directory with a short path (unix socket
// paths under it are limited to 108 bytes), removed after the test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "b")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// lines is s cut into its lines, without empty ones.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
