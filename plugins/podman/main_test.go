package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
)

// buildTags are the tags the bindings need; the test binary and the driver
// binary built here must agree.
const buildTags = "remote containers_image_openpgp"

var (
	// driverBin is the berth-driver-podman binary TestMain builds.
	driverBin string
	// serviceErr is why the API service cannot be used, nil if it can.
	serviceErr error
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "berth-driver-podman-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	driverBin = filepath.Join(dir, "berth-driver-podman")
	build := exec.Command("go", "build", "-tags", buildTags, "-o", driverBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the driver:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	serviceErr = New(Options{}).Ping(ctx)
	cancel()
	return m.Run()
}

// needService skips t (fails it when CI=true) if the API service cannot be
// reached.
func needService(t testing.TB) {
	t.Helper()
	if serviceErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Podman API service unreachable: %v", serviceErr)
	}
	t.Skipf("Podman API service unreachable (run scripts/engines.sh): %v", serviceErr)
}

// newDriver returns an in-process driver of the default service.
func newDriver(t testing.TB) *Driver {
	t.Helper()
	needService(t)
	return New(Options{})
}

// openWire starts the driver binary as a plugin and returns its client.
func openWire(t testing.TB, opts map[string]string) *wire.Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := wire.Open(ctx, wire.Config{Path: driverBin, Options: opts})
	if err != nil {
		t.Fatalf("wire.Open(%s): %v", driverBin, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing the driver plugin: %v", err)
		}
	})
	return d
}

var _ runtime.Runtime = (*wire.Driver)(nil)
