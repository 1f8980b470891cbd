// Package memdriver is the driver of the tests and benchmarks of package
// wire: the fake runtime (runtime/fake) declaring only runtime.CapLoad,
// holding the test image as BaseImage, reporting the version it was made
// with, and whose Ping only logs.
package memdriver

import (
	"bytes"
	"context"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// BaseImage is the image every Runtime starts with.
const BaseImage = "mem:base"

// Runtime is the fake with a version and a log.
type Runtime struct {
	*fake.Runtime
	// Version is reported by Info.
	Version string
	// Log, if set, is called by Ping with a message and attributes.
	Log func(msg string, args ...any)
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a Runtime holding BaseImage.
func New(version string) *Runtime {
	rt := fake.New(fake.WithCapabilities(runtime.CapLoad))
	tarball, err := testimage.Tar(testimage.Options{Ref: BaseImage, Busybox: []byte("the fake runs no binaries")})
	if err == nil {
		_, err = rt.LoadImage(context.Background(), bytes.NewReader(tarball))
	}
	if err != nil {
		panic(err)
	}
	return &Runtime{Runtime: rt, Version: version}
}

// Info is the fake's, named memdriver, with r.Version.
func (r *Runtime) Info(ctx context.Context) (runtime.Info, error) {
	info, err := r.Runtime.Info(ctx)
	info.Name, info.Version = "memdriver", r.Version
	return info, err
}

// Ping logs. It does not ask the fake, which in memory has nothing to
// check: the benchmarks measure the wire with it.
func (r *Runtime) Ping(context.Context) error {
	if r.Log != nil {
		r.Log("memdriver ping", "version", r.Version)
	}
	return nil
}
