package wire_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/runtime/wire"
	"github.com/berth-dev/berth/runtime/wire/testdata/memdriver"
)

// The benchmarks compare a driver called directly (InProcess) with the same
// driver called through the wire: in-process gRPC (Pair) and a plugin
// process (Subprocess). The difference is the wire's cost. Ping uses
// memdriver (a Ping that only logs: nothing but the wire); Cycle (run
// "true", wait, remove: three calls) uses the fake. Besides ns/op (a mean)
// they report p50-ns/op, the median iteration.
//
//	go test -run '^$' -bench . -count 5 ./runtime/wire/

func BenchmarkPingInProcess(b *testing.B) { benchPing(b, memdriver.New("")) }
func BenchmarkPingPair(b *testing.B)      { benchPing(b, pairOf(b, memdriver.New(""))) }
func BenchmarkPingSubprocess(b *testing.B) {
	benchPing(b, open(b, wire.Config{}))
}

func BenchmarkCycleInProcess(b *testing.B) { benchCycle(b, fakeInProcess(b)) }
func BenchmarkCyclePair(b *testing.B)      { benchCycle(b, pairOf(b, fakeInProcess(b))) }
func BenchmarkCycleSubprocess(b *testing.B) {
	benchCycle(b, open(b, wire.Config{Path: fakeDriver(b)}))
}

func pairOf(b *testing.B, impl runtime.Runtime) runtime.Runtime {
	rt, closePair := wire.Pair(impl)
	b.Cleanup(closePair)
	return rt
}

func fakeInProcess(b *testing.B) runtime.Runtime {
	rt := fake.New()
	b.Cleanup(func() { rt.Close() })
	return rt
}

var fakeBuild struct {
	once sync.Once
	path string
	err  error
}

// fakeDriver builds cmd/berth-driver-fake once and returns its path.
func fakeDriver(b *testing.B) string {
	fakeBuild.once.Do(func() {
		fakeBuild.path = filepath.Join(driverDir, "berth-driver-fake")
		out, err := exec.Command("go", "build", "-o", fakeBuild.path, "github.com/berth-dev/berth/cmd/berth-driver-fake").CombinedOutput()
		if err != nil {
			fakeBuild.err = fmt.Errorf("build berth-driver-fake: %v\n%s", err, out)
		}
	})
	require.NoError(b, fakeBuild.err)
	return fakeBuild.path
}

func benchPing(b *testing.B, rt runtime.Runtime) {
	ctx := context.Background()
	timed(b, func() {
		require.NoError(b, rt.Ping(ctx))
	})
}

// benchCycle loads the test image, then runs a container, waits for it and
// removes it in each iteration.
func benchCycle(b *testing.B, rt runtime.Runtime) {
	ctx := context.Background()
	tar, err := testimage.Tar(testimage.Options{Busybox: []byte("the fake runs no binaries")})
	require.NoError(b, err)
	_, err = rt.LoadImage(ctx, bytes.NewReader(tar))
	require.NoError(b, err)
	spec := runtime.ContainerSpec{Image: testimage.DefaultRef, Cmd: []string{"true"}}
	timed(b, func() {
		c, err := rt.Run(ctx, spec)
		require.NoError(b, err)
		st, err := rt.Wait(ctx, c.ID)
		require.NoError(b, err)
		require.Zero(b, st.ExitCode, "the job's exit code")
		require.NoError(b, rt.Remove(ctx, c.ID))
	})
}

// timed runs op b.N times and reports the median duration as p50-ns/op.
func timed(b *testing.B, op func()) {
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		op()
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns/op")
}
