package runtimetest_test

import (
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest"
)

// conformance is what a driver's test file holds, as
// func TestConformance(t *testing.T). Replace fake.New with the driver's
// constructor; the suite loads its own busybox image unless BaseImage is
// set.
func conformance(t *testing.T) {
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			return fake.New()
		},
	})
}

// ExampleRun shows a driver's conformance test.
func ExampleRun() {
	_ = conformance // go test calls TestConformance(t) in a real driver
}
