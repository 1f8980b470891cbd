package core

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/stretchr/testify/require"
)

// benchSnapshots is how many snapshots the benchmarks' state holds.
const benchSnapshots = 10_000

// benchFixture is a state directory with benchSnapshots snapshots, whose
// images exist in a fake runtime; built once per test binary.
var benchFixture struct {
	once sync.Once
	dir  string
	rt   *fake.Runtime
	clk  *clock
	err  error
}

func cleanupBench() {
	if benchFixture.dir != "" {
		os.RemoveAll(benchFixture.dir)
	}
}

func benchState(b *testing.B) (Config, *fake.Runtime) {
	f := &benchFixture
	f.once.Do(func() { f.err = buildBench() })
	require.NoError(b, f.err, "build the benchmark state")
	return Config{StateDir: f.dir, Runtimes: RuntimeList{{Name: "fake", Runtime: f.rt}},
		Policy: Policy{Enabled: true}, Now: f.clk.Now}, f.rt
}

// buildBench commits the snapshots' images from one container of the base
// image, as jobs would.
func buildBench() error {
	ctx := context.Background()
	f := &benchFixture
	var err error
	if f.dir, err = os.MkdirTemp("", "berth-bench"); err != nil {
		return err
	}
	f.clk = newClock()
	f.rt = fake.New(fake.WithClock(f.clk.Now))
	tarball, err := testimage.Tar(testimage.Options{Ref: baseRef, Busybox: []byte("-")})
	if err != nil {
		return err
	}
	bases, err := f.rt.LoadImage(ctx, bytes.NewReader(tarball))
	if err != nil {
		return err
	}
	base := bases[0]
	ctr, err := f.rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo job > /work/f"}})
	if err != nil {
		return err
	}
	if _, err := f.rt.Wait(ctx, ctr.ID); err != nil {
		return err
	}
	st, err := store.Open(ctx, f.dir)
	if err != nil {
		return err
	}
	defer st.Close()
	instance, err := st.InstanceID(ctx)
	if err != nil {
		return err
	}
	for i := range benchSnapshots {
		item := "item-" + strconv.Itoa(i)
		ref := imageRef(imageName(instance, "fake", DefaultProject, item), 1)
		labels := map[string]string{LabelManagedBy: ManagedBy, LabelInstance: instance, LabelRuntime: "fake", LabelProject: DefaultProject,
			LabelWorkItem: item, LabelGeneration: "1", LabelBaseImage: baseRef, LabelBaseID: base.ID, LabelJob: "bench"}
		img, err := f.rt.Commit(ctx, ctr.ID, runtime.CommitOptions{Ref: ref, Labels: labels})
		if err != nil {
			return err
		}
		now := f.clk.Now().Add(time.Duration(i) * time.Millisecond)
		stored, err := st.Adopt(ctx, store.Snapshot{Key: store.Key{Runtime: "fake", Project: DefaultProject, WorkItem: item},
			Image: ref, ImageID: img.ID, BaseImage: baseRef, BaseImageID: base.ID, Size: img.Size,
			Layers: img.Layers, Generation: 1, Created: now, LastUsed: now})
		if err != nil {
			return err
		}
		if !stored {
			return fmt.Errorf("snapshot of %s not stored", item)
		}
	}
	return nil
}

// reportCPU adds a "cpu-ns/op" metric: the process's CPU time per
// iteration, which a loaded machine distorts less than wall time.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

// BenchmarkSelectAndBookkeeping measures the core's own work per job with
// 10,000 snapshots stored: snapshot selection (store lookup, base and
// snapshot image checks) and the job's bookkeeping (job row written,
// container recorded, row removed and last-used time moved in one
// transaction). The container's run and commit are the engine's work and
// are not included.
func BenchmarkSelectAndBookkeeping(b *testing.B) {
	cfg, rt := benchState(b)
	ctx := context.Background()
	c, err := Open(ctx, cfg)
	require.NoError(b, err)
	defer c.Close()
	defer reportCPU(b)()
	for i := 0; b.Loop(); i++ {
		j := Job{Runtime: "fake", Project: DefaultProject, Image: baseRef, WorkItem: "item-" + strconv.Itoa(i%benchSnapshots)}
		sel, err := c.selectImage(ctx, rt, j, "")
		if err != nil || !sel.hit {
			b.Fatalf("selection: %v, hit=%v %q", err, sel.hit, sel.reason)
		}
		id := fmt.Sprintf("bench-%d", i)
		if err := c.st.AddJob(ctx, store.Job{ID: id, Runtime: "fake", Project: j.Project, WorkItem: j.WorkItem,
			PID: c.owner.pid, PIDStart: c.owner.start, Started: c.now()}); err != nil {
			b.Fatal(err)
		}
		if err := c.st.SetJobContainer(ctx, id, "ctr", time.Time{}); err != nil {
			b.Fatal(err)
		}
		if err := c.st.FinishJob(ctx, store.JobEnd{ID: id, ContainerRemoved: true, Used: sel.key, At: c.now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep measures a full sweep (reconcile of images, entries and
// containers, then eviction) of a state of 10,000 snapshots that are all
// kept.
func BenchmarkSweep(b *testing.B) {
	cfg, _ := benchState(b)
	ctx := context.Background()
	c, err := Open(ctx, cfg)
	require.NoError(b, err)
	defer c.Close()
	defer reportCPU(b)()
	for b.Loop() {
		rep, err := c.Sweep(ctx, SweepOptions{})
		if err != nil || len(rep.Evicted)+len(rep.RemovedImages)+len(rep.DroppedEntries) != 0 {
			b.Fatalf("sweep: %v %+v", err, rep)
		}
	}
}

// BenchmarkOpen measures opening (and closing) the state of 10,000
// snapshots.
func BenchmarkOpen(b *testing.B) {
	cfg, _ := benchState(b)
	ctx := context.Background()
	defer reportCPU(b)()
	for b.Loop() {
		c, err := Open(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunOnFake measures a whole job (a hit and a commit) on the fake
// runtime, for reference: the fake's own work included.
func BenchmarkRunOnFake(b *testing.B) {
	ctx := context.Background()
	rt := fake.New()
	defer rt.Close()
	tarball, err := testimage.Tar(testimage.Options{Ref: baseRef, Busybox: []byte("-")})
	require.NoError(b, err)
	_, err = rt.LoadImage(ctx, bytes.NewReader(tarball))
	require.NoError(b, err)
	c, err := Open(ctx, Config{StateDir: b.TempDir(), Runtimes: RuntimeList{{Name: "fake", Runtime: rt}}, Policy: Policy{Enabled: true}})
	require.NoError(b, err)
	defer c.Close()
	for i := 0; b.Loop(); i++ {
		res, err := c.Run(ctx, Job{Image: baseRef, Cmd: []string{"true"}, WorkItem: "run-" + strconv.Itoa(i%100)})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(err)
		}
	}
}
