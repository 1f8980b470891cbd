package podman

import (
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/wire"
)

// buildTags are the Makefile's PODMAN_TAGS, which the test binary is built
// with too (guard_test.go): the driver binary built here is the shipped one
// (CGO_ENABLED=0, as the Makefile's build).
const buildTags = "remote containers_image_openpgp exclude_graphdriver_btrfs"

// service is the Podman API service the tests use, probed by TestMain;
// driver is this module's binary, built once for the wire tests.
var (
	service drivertest.Engine
	driver  = &drivertest.Binary{Pkg: "./cmd/berth-driver-podman", Args: []string{"-tags", buildTags}, Env: []string{"CGO_ENABLED=0"}}
)

func TestMain(m *testing.M) {
	service = drivertest.Probe("the Podman API service", 30*time.Second, New(Options{}).Ping)
	code := m.Run()
	driver.Remove()
	os.Exit(code)
}

// newDriver returns an in-process driver of the default service.
func newDriver(t testing.TB) *Driver {
	t.Helper()
	service.Need(t)
	return New(Options{})
}

// openWire starts the driver binary as a plugin and returns its client.
func openWire(t testing.TB, opts map[string]string) *wire.Driver {
	t.Helper()
	return drivertest.Open(t, driver.Path(t), opts)
}

var _ runtime.Runtime = (*wire.Driver)(nil)

// second returns the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }
