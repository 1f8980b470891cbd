package containerd

import (
	"context"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// BenchmarkRunTrue measures Run, Wait and Remove of `true` in process.
func BenchmarkRunTrue(b *testing.B) {
	d := newDriver(b)
	benchRunTrue(b, d, loadBase(b, d))
}

// BenchmarkRunTrueWire measures the same through the plugin process.
func BenchmarkRunTrueWire(b *testing.B) {
	rt := openPlugin(b)
	benchRunTrue(b, rt, loadBase(b, rt))
}

func benchRunTrue(b *testing.B, rt runtime.Runtime, base string) {
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		c, err := rt.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"true"}})
		require.NoError(b, err)
		st, err := rt.Wait(ctx, c.ID)
		require.False(b, err != nil || st.ExitCode != 0, "Wait: %+v %v", st, err)
		require.NoError(b, rt.Remove(ctx, c.ID))
	}
}

// BenchmarkCtrRunRm is the baseline: `ctr run --rm IMAGE ID true`, a whole
// process per run, on the same image.
func BenchmarkCtrRunRm(b *testing.B) {
	d := newDriver(b)
	base := loadBase(b, d)
	name, err := normalizeRef(base)
	require.NoError(b, err)
	for b.Loop() {
		out, err := exec.Command("ctr", "-n", d.Namespace(), "run", "--rm", name, "bench-"+randomHex(6), "true").CombinedOutput()
		require.NoError(b, err, "ctr run: output %s", out)
	}
}

// BenchmarkCommitSmallFiles measures Commit of a container that wrote
// 2,000 small files.
func BenchmarkCommitSmallFiles(b *testing.B) {
	benchCommit(b, "mkdir /work/many && cd /work/many && for i in $(seq 2000); do echo file $i > f$i; done")
}

// BenchmarkCommit100MB measures Commit of a container that wrote one
// 100 MB file.
func BenchmarkCommit100MB(b *testing.B) {
	benchCommit(b, "head -c 104857600 /dev/urandom > /f")
}

func benchCommit(b *testing.B, script string) {
	d := newDriver(b)
	base := loadBase(b, d)
	ctx := context.Background()
	ref := "berth-test/bench-commit-" + randomHex(4) + ":1"
	b.Cleanup(func() { removeImage(b, d, ref) })
	var size int64
	for b.Loop() {
		b.StopTimer()
		c, err := d.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"sh", "-c", script}})
		require.NoError(b, err)
		st, err := d.Wait(ctx, c.ID)
		require.False(b, err != nil || st.ExitCode != 0, "Wait: %+v %v", st, err)
		b.StartTimer()
		img, err := d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
		require.NoError(b, err)
		b.StopTimer()
		size = img.Size
		require.NoError(b, d.Remove(ctx, c.ID))
		b.StartTimer()
	}
	b.ReportMetric(float64(size), "image-bytes")
}
