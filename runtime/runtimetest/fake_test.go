package runtimetest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/wire"
)

// fakeBinary is the berth-driver-fake plugin TestMain builds, or the
// reason it could not.
var fakeBinary, fakeBuildErr = "", error(nil)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtimetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fakeBinary = filepath.Join(dir, "berth-driver-fake")
	out, err := exec.Command("go", "build", "-o", fakeBinary, "github.com/berth-dev/berth/cmd/berth-driver-fake").CombinedOutput()
	if err != nil {
		fakeBuildErr = fmt.Errorf("go build berth-driver-fake: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestFakeInProcess runs the suite against the fake called directly.
func TestFakeInProcess(t *testing.T) {
	t.Parallel()
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return fake.New() },
	})
}

// TestFakePair runs the suite against the fake over an in-process gRPC
// pair, so that every call crosses the wire's shims.
func TestFakePair(t *testing.T) {
	t.Parallel()
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			rt, closeFn := wire.Pair(fake.New())
			t.Cleanup(closeFn)
			return rt
		},
	})
}

// TestFakePlugin runs the suite against the fake as berth runs drivers: a
// separate plugin process, one per case.
func TestFakePlugin(t *testing.T) {
	t.Parallel()
	if fakeBuildErr != nil {
		t.Fatal(fakeBuildErr)
	}
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := wire.Open(ctx, wire.Config{Path: fakeBinary})
			if err != nil {
				t.Fatalf("wire.Open(%s): %v", fakeBinary, err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		},
	})
}

// TestFakeFewerCapabilities runs the suite against fakes declaring fewer
// capabilities, so that the refusal checks run too.
func TestFakeFewerCapabilities(t *testing.T) {
	t.Parallel()
	for name, caps := range map[string][]runtime.Capability{
		"LoadOnly": {runtime.CapLoad},
		"NoSquash": {runtime.CapLoad, runtime.CapCommit},
	} {
		t.Run(name, func(t *testing.T) {
			runtimetest.Run(t, runtimetest.Config{
				New: func(t testing.TB) runtime.Runtime { return fake.New(fake.WithCapabilities(caps...)) },
			})
		})
	}
}
