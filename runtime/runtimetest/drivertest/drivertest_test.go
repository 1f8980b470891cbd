package drivertest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending
// the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Fatal(args ...any)                 { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestBinaryBuildsOnceAndOpens(t *testing.T) {
	b := &drivertest.Binary{Pkg: "github.com/berth-dev/berth/cmd/berth-driver-fake", Env: []string{"CGO_ENABLED=0"}}
	defer b.Remove()
	path := b.Path(t)
	if again := b.Path(t); again != path {
		t.Fatalf("second Path = %s, want %s", again, path)
	}
	// The options reach the driver: the fake's first ping fails as told.
	d := drivertest.Open(t, path, map[string]string{"faults": "ping:1:unavailable"})
	if err := d.Ping(context.Background()); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("first Ping: %v, want the injected ErrUnavailable", err)
	}
	if err := d.Ping(context.Background()); err != nil {
		t.Fatalf("second Ping: %v", err)
	}
	b.Remove()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after Remove, %s: %v", path, err)
	}
}

func TestBinaryBuildFailureFails(t *testing.T) {
	b := &drivertest.Binary{Pkg: "./no-such-package"}
	defer b.Remove()
	r := &recorder{TB: t}
	b.Path(r)
	if r.fatal == "" {
		t.Fatal("a failed build did not fail the test")
	}
}

func TestEngineNeed(t *testing.T) {
	up := drivertest.Probe("the up engine", time.Second, func(context.Context) error { return nil })
	r := &recorder{TB: t}
	up.Need(r)
	if r.fatal != "" || r.skip != "" {
		t.Fatalf("an engine that answers: fatal %q, skip %q", r.fatal, r.skip)
	}

	down := drivertest.Probe("the down engine", time.Second, func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("Probe gave ping no deadline")
		}
		return errors.New("connection refused")
	})
	t.Setenv("CI", "")
	r = &recorder{TB: t}
	down.Need(r)
	if r.skip == "" || r.fatal != "" {
		t.Fatalf("unreachable outside CI: fatal %q, skip %q; want a skip", r.fatal, r.skip)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	down.Need(r)
	if r.fatal == "" {
		t.Fatalf("unreachable in CI: skip %q; want a failure", r.skip)
	}
}
