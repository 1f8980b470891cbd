package drivertest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// recorder is a testing.TB that records failures and skips instead of
// ending the test: what Errorf reports, whether FailNow was called (as
// require does after Errorf, and Fatal) and what Skipf says.
type recorder struct {
	testing.TB
	errors  []string
	failNow bool
	skip    string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) FailNow()                          { r.failNow = true }
func (r *recorder) Fatal(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)); r.FailNow() }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); r.FailNow() }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

// fatal is what the test was failed with and ended by, if it was: "" if
// FailNow was not called.
func (r *recorder) fatal() string {
	if !r.failNow {
		return ""
	}
	return strings.Join(append([]string{"FailNow"}, r.errors...), "\n")
}

func TestBinaryBuildsOnceAndOpens(t *testing.T) {
	b := &drivertest.Binary{Pkg: "github.com/berth-dev/berth/cmd/berth-driver-fake", Env: []string{"CGO_ENABLED=0"}}
	defer b.Remove()
	path := b.Path(t)
	require.Equal(t, path, b.Path(t), "second Path")
	// The options reach the driver: the fake's first ping fails as told.
	d := drivertest.Open(t, path, map[string]string{"faults": "ping:1:unavailable"})
	require.ErrorIs(t, d.Ping(context.Background()), runtime.ErrUnavailable, "first Ping: want the injected fault")
	require.NoError(t, d.Ping(context.Background()), "second Ping")
	b.Remove()
	_, err := os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "Stat(%s) after Remove", path)
}

func TestBinaryBuildFailureFails(t *testing.T) {
	b := &drivertest.Binary{Pkg: "./no-such-package"}
	defer b.Remove()
	r := &recorder{TB: t}
	b.Path(r)
	assert.NotEmpty(t, r.fatal(), "a failed build did not fail the test")
}

func TestEngineNeed(t *testing.T) {
	up := drivertest.Probe("the up engine", time.Second, func(context.Context) error { return nil })
	r := &recorder{TB: t}
	up.Need(r)
	assert.Empty(t, r.errors, "an engine that answers: failures")
	assert.Empty(t, r.fatal(), "an engine that answers: fatal failure")
	assert.Empty(t, r.skip, "an engine that answers: skip")

	down := drivertest.Probe("the down engine", time.Second, func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		assert.True(t, ok, "Probe gave ping no deadline")
		return errors.New("connection refused")
	})
	t.Setenv("CI", "")
	r = &recorder{TB: t}
	down.Need(r)
	assert.NotEmpty(t, r.skip, "unreachable outside CI: want a skip")
	assert.Empty(t, r.errors, "unreachable outside CI: failures")
	assert.Empty(t, r.fatal(), "unreachable outside CI: fatal failure")
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	down.Need(r)
	assert.Contains(t, r.fatal(), "the down engine is unreachable", "unreachable in CI: want a fatal failure saying so (skip %q)", r.skip)
	assert.Contains(t, r.fatal(), "connection refused", "unreachable in CI: the failure carries the probe's error")
	assert.Empty(t, r.skip, "unreachable in CI: skip")
}
