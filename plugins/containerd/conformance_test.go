package containerd

import (
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// TestConformance runs the conformance suite against the driver in
// process, each case with a fresh driver on the test namespace.
func TestConformance(t *testing.T) {
	daemon.Need(t)
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return newDriver(t) },
	})
}

// TestConformanceWire runs the suite against the driver binary served over
// the real plugin wire, each case with its own plugin process.
func TestConformanceWire(t *testing.T) {
	daemon.Need(t)
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return openPlugin(t) },
	})
}

// openPlugin starts the driver binary on the test namespace and closes it
// at clean-up.
func openPlugin(t testing.TB) runtime.Runtime {
	t.Helper()
	return drivertest.Open(t, driver.Path(t), map[string]string{"namespace": testNamespace})
}
