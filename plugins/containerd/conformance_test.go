package containerd

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/wire"
)

// TestConformance runs the conformance suite against the driver in
// process, each case with a fresh driver on the test namespace.
func TestConformance(t *testing.T) {
	needDaemon(t)
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return newDriver(t) },
	})
}

// TestConformanceWire runs the suite against the driver binary served over
// the real plugin wire, each case with its own plugin process.
func TestConformanceWire(t *testing.T) {
	needDaemon(t)
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime { return openPlugin(t) },
	})
}

// openPlugin starts the driver binary on the test namespace and closes it
// at clean-up.
func openPlugin(t testing.TB) runtime.Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := wire.Open(ctx, wire.Config{
		Path:    driverBin,
		Options: map[string]string{"namespace": testNamespace},
	})
	if err != nil {
		t.Fatalf("wire.Open(%s): %v", driverBin, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("closing the plugin: %v", err)
		}
	})
	return d
}
