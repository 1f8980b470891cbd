// Package drivertest has what the tests of a driver module share: the
// driver binary built once per test run, opened over the real plugin wire,
// and the engine the tests need, probed once. A test that cannot reach the
// engine skips with a message saying how to bring it up; when CI=true it
// fails instead, since a CI run that skipped the engine tests proves
// nothing.
//
// A driver module's TestMain typically reads:
//
//	var (
//		driver = &drivertest.Binary{Pkg: "."}
//		engine drivertest.Engine
//	)
//
//	func TestMain(m *testing.M) {
//		engine = drivertest.Probe("the example engine", 10*time.Second, New().Ping)
//		code := m.Run()
//		driver.Remove()
//		os.Exit(code)
//	}
//
// and a test calls engine.Need(t), then drivertest.Open(t, driver.Path(t), nil).
package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/wire"
)

// openTimeout bounds the launch of a driver.
const openTimeout = time.Minute

// Binary is a driver binary built by go build the first time a test asks
// for it, in a directory of its own.
type Binary struct {
	Pkg  string   // the package go build builds: "." or "./cmd/berth-driver-x"
	Name string   // the binary's file name; default: the package directory's
	Args []string // more go build arguments, such as "-tags", "remote"
	Env  []string // more environment for go build, such as "CGO_ENABLED=0"

	once      sync.Once
	dir, path string
	err       error
}

// Path builds the binary if it was not built yet and returns its path. A
// failed build fails tb (and every later call).
func (b *Binary) Path(tb testing.TB) string {
	tb.Helper()
	b.once.Do(b.build)
	require.NoError(tb, b.err, "building the driver %s", b.Pkg)
	return b.path
}

func (b *Binary) build() {
	if b.dir, b.err = os.MkdirTemp("", "berth-drivertest-"); b.err != nil {
		return
	}
	name := b.Name
	if name == "" {
		name = filepath.Base(b.Pkg)
	}
	if name == "." {
		if wd, err := os.Getwd(); err == nil {
			name = filepath.Base(wd)
		}
	}
	b.path = filepath.Join(b.dir, name)
	args := append(append([]string{"build", "-o", b.path}, b.Args...), b.Pkg)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), b.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.err = fmt.Errorf("go %v: %v\n%s", args, err, out)
	}
}

// Remove deletes the built binary, if any. TestMain calls it after m.Run.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// Open launches the driver binary at path over the plugin wire, passing it
// opts, and closes it at tb's clean-up (failing tb if that fails).
func Open(tb testing.TB, path string, opts map[string]string) *wire.Driver {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	d, err := wire.Open(ctx, wire.Config{Path: path, Options: opts})
	require.NoError(tb, err, "wire.Open(%s)", path)
	tb.Cleanup(func() {
		assert.NoError(tb, d.Close(), "closing driver %s", path)
	})
	return d
}

// Engine is an engine a driver's tests need.
type Engine struct {
	Name string // for messages: "the Docker daemon"
	Err  error  // why it cannot be used; nil if it can
}

// Probe calls ping within timeout and returns the engine it found.
func Probe(name string, timeout time.Duration, ping func(context.Context) error) Engine {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Engine{Name: name, Err: ping(ctx)}
}

// Need lets tb go on if the engine answered. Otherwise it fails tb when the
// environment has CI=true, and skips it elsewhere, saying how to start the
// engines.
func (e Engine) Need(tb testing.TB) {
	tb.Helper()
	if e.Err != nil {
		Require(tb, e.Name+" is unreachable (start the engines with scripts/engines.sh, as root)", e.Err)
	}
}

// Require lets tb go on when err is nil. Otherwise what a test needs from
// the host is missing (an engine, a tool, a kernel feature): it fails tb
// when the environment has CI=true, where such a test must run, and skips
// it elsewhere. what says what is missing.
func Require(tb testing.TB, what string, err error) {
	tb.Helper()
	switch {
	case err == nil:
	case os.Getenv("CI") == "true":
		require.NoError(tb, err, "%s (in CI this fails the run)", what)
	default:
		tb.Skipf("%s: %v", what, err)
	}
}

// MemoryScript prints the memory limits of the container's own cgroup:
// "v1 LIMIT MEMSW" (cgroup v1: memory.limit_in_bytes and
// memory.memsw.limit_in_bytes, the limit of memory and swap together) or
// "v2 MAX SWAPMAX" (cgroup v2: memory.max and memory.swap.max, the swap
// alone); "none" for a file the host lacks. Run it with sh -c.
const MemoryScript = `cg=/sys/fs/cgroup
if [ -f $cg/memory/memory.limit_in_bytes ]; then
	echo v1 $(cat $cg/memory/memory.limit_in_bytes) $(cat $cg/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo none)
else
	echo v2 $(cat $cg/memory.max) $(cat $cg/memory.swap.max 2>/dev/null || echo none)
fi`

// CheckMemoryLimits checks out, what MemoryScript printed in a container
// run with MemoryBytes limit: memory and swap together are capped at
// limit. A host without swap accounting fails tb in CI and skips it
// elsewhere.
func CheckMemoryLimits(tb testing.TB, out string, limit int64) {
	tb.Helper()
	got := strings.TrimSpace(out)
	if strings.HasSuffix(got, " none") {
		Require(tb, "the host has no swap accounting: the swap limit cannot be checked", fmt.Errorf("the container saw %q", got))
	}
	v1, v2 := fmt.Sprintf("v1 %d %d", limit, limit), fmt.Sprintf("v2 %d 0", limit)
	assert.Contains(tb, []string{v1, v2}, got, "the container's memory limits: want %q (cgroup v1) or %q (cgroup v2)", v1, v2)
}

// Environ returns the environment of process pid (Linux: /proc/PID/environ),
// failing tb if it cannot be read. Tests use it to see what a launched
// driver received.
func Environ(tb testing.TB, pid int) map[string]string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	require.NoError(tb, err, "the environment of process %d", pid)
	env := map[string]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			env[k] = v
		}
	}
	return env
}

// PluginLeftovers lists what is named plugin* (go-plugin's socket
// directories and sockets) anywhere under root, failing tb if root cannot
// be walked.
func PluginLeftovers(tb testing.TB, root string) []string {
	tb.Helper()
	var found []string
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), "plugin") {
			found = append(found, path)
		}
		return nil
	})
	require.NoError(tb, err, "looking for plugin leftovers under %s", root)
	return found
}

// RegistryEnv is the environment variable that names the OCI registry
// tests push to and pull from: "127.0.0.1:PORT" (scripts/registry.sh starts
// Debian's docker-registry on loopback and prints it).
const RegistryEnv = "BERTH_TEST_REGISTRY"

// Registry returns the registry RegistryEnv names. Without one tb fails
// when the environment has CI=true, and skips elsewhere (see Require).
func Registry(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv(RegistryEnv)
	if addr == "" {
		Require(tb, "no registry (start one with scripts/registry.sh and set "+RegistryEnv+"=$(scripts/registry.sh))",
			errors.New(RegistryEnv+" is not set"))
	}
	return addr
}
