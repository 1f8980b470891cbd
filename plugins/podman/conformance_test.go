package podman

import (
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
)

// TestConformance runs the conformance suite against the driver in
// process, each case loading its own base image from testimage.Tar.
func TestConformance(t *testing.T) {
	service.Need(t)
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return newDriver(t) },
	})
}

// TestConformanceWire runs the conformance suite against the driver binary
// served over the real plugin wire.
func TestConformanceWire(t *testing.T) {
	service.Need(t)
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return openWire(t, nil) },
	})
}
