package docker

import (
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// TestConformance runs the suite against the driver in process.
func TestConformance(t *testing.T) {
	engine.Need(t)
	runtimetest.Run(t, runtimetest.Config{New: func(t testing.TB) runtime.Runtime { return newDriver(t) }})
}

// TestConformanceWire runs the suite against the built driver binary over
// the real plugin wire, as berth uses it.
func TestConformanceWire(t *testing.T) {
	engine.Need(t)
	runtimetest.Run(t, runtimetest.Config{New: openPlugin})
}

// openPlugin starts the driver binary and stops it at the end of the test.
func openPlugin(t testing.TB) runtime.Runtime {
	t.Helper()
	engine.Need(t)
	return drivertest.Open(t, driver.Path(t), map[string]string{"address": testAddress()})
}
