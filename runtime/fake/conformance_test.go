package fake_test

import (
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest"
)

// TestConformancePersisted runs the conformance suite against the fake with
// a state dir. (Package runtimetest runs it against the in-memory fake, in
// process and over the plugin wire.)
func TestConformancePersisted(t *testing.T) {
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			rt := fake.New(fake.WithStateDir(t.TempDir()))
			t.Cleanup(func() { rt.Close() })
			return rt
		},
		Busybox: []byte("the fake runs no binaries"), // no busybox needed on the host
	})
}
