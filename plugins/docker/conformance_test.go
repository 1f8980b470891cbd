package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/wire"
)

// TestConformance runs the suite against the driver in process.
func TestConformance(t *testing.T) {
	needEngine(t)
	runtimetest.Run(t, runtimetest.Config{New: func(t testing.TB) runtime.Runtime { return newDriver(t) }})
}

// TestConformanceWire runs the suite against the built driver binary over
// the real plugin wire, as berth uses it.
func TestConformanceWire(t *testing.T) {
	needEngine(t)
	runtimetest.Run(t, runtimetest.Config{New: openPlugin})
}

// openPlugin starts the driver binary and stops it at the end of the test.
func openPlugin(t testing.TB) runtime.Runtime {
	t.Helper()
	needEngine(t)
	d, err := wire.Open(context.Background(), wire.Config{
		Path:    pluginBinary(t),
		Options: map[string]string{"address": testAddress()},
	})
	if err != nil {
		t.Fatalf("open the plugin: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var plugin struct {
	sync.Once
	dir, path string
	err       error
}

// pluginBinary builds this module's binary once per test run.
func pluginBinary(t testing.TB) string {
	t.Helper()
	plugin.Do(func() {
		plugin.dir, plugin.err = os.MkdirTemp("", "berth-driver-docker-test-")
		if plugin.err != nil {
			return
		}
		plugin.path = filepath.Join(plugin.dir, "berth-driver-docker")
		out, err := exec.Command("go", "build", "-o", plugin.path, ".").CombinedOutput()
		if err != nil {
			plugin.err = &buildError{err, string(out)}
		}
	})
	if plugin.err != nil {
		t.Fatalf("build the plugin: %v", plugin.err)
	}
	return plugin.path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// stopPlugins removes the built binary (TestMain calls it last).
func stopPlugins() {
	if plugin.dir != "" {
		os.RemoveAll(plugin.dir)
	}
}
