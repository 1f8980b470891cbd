package runtimetest_test

import (
	"os"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/wire"
)

// noBusybox is what the fake's test images carry instead of busybox: the
// fake never executes it, so these tests need no busybox on the host.
var noBusybox = []byte("the fake runs no binaries")

// fakeDriver is the berth-driver-fake plugin, built once.
var fakeDriver = &drivertest.Binary{Pkg: "github.com/berth-dev/berth/cmd/berth-driver-fake"}

func TestMain(m *testing.M) {
	code := m.Run()
	fakeDriver.Remove()
	os.Exit(code)
}

// TestFakeInProcess runs the suite against the fake called directly.
func TestFakeInProcess(t *testing.T) {
	t.Parallel()
	runtimetest.Run(t, runtimetest.Config{
		New:     func(t testing.TB) runtime.Runtime { return fake.New() },
		Busybox: noBusybox,
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
		Busybox: noBusybox,
	})
}

// TestFakePlugin runs the suite against the fake as berth runs drivers: a
// separate plugin process, one per case.
func TestFakePlugin(t *testing.T) {
	t.Parallel()
	path := fakeDriver.Path(t)
	runtimetest.Run(t, runtimetest.Config{
		New:     func(t testing.TB) runtime.Runtime { return drivertest.Open(t, path, nil) },
		Busybox: noBusybox,
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
				New:     func(t testing.TB) runtime.Runtime { return fake.New(fake.WithCapabilities(caps...)) },
				Busybox: noBusybox,
			})
		})
	}
}
