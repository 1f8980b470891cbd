package chroot_test

import (
	"os"
	"testing"

	"github.com/berth-dev/berth/examples/chrootdriver/chroot"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
)

// TestConformance runs the conformance suite against the driver in
// process, each case with a state dir of its own.
func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the chroot driver needs root")
	}
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			d, err := chroot.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	})
}
