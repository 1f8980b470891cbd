package core

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/core/store"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// benchSnapshots is how many snapshots the benchmarks' state holds.
const benchSnapshots = 10_000

// benchFixture is a state directory with benchSnapshots snapshots, whose
// images exist in a benchRuntime; built once per test binary.
var benchFixture struct {
	once sync.Once
	dir  string
	rt   *benchRuntime
	clk  *clock
	err  error
}

func cleanupBench() {
	if benchFixture.dir != "" {
		os.RemoveAll(benchFixture.dir)
	}
}

func benchState(b *testing.B) (Config, *benchRuntime) {
	f := &benchFixture
	f.once.Do(func() { f.err = buildBench() })
	if f.err != nil {
		b.Fatal(f.err)
	}
	return Config{StateDir: f.dir, Runtimes: RuntimeList{{Name: "fake", Runtime: f.rt}},
		Policy: Policy{Enabled: true}, Now: f.clk.Now}, f.rt
}

func buildBench() error {
	ctx := context.Background()
	f := &benchFixture
	var err error
	if f.dir, err = os.MkdirTemp("", "berth-bench"); err != nil {
		return err
	}
	f.clk = newClock()
	f.rt = &benchRuntime{images: map[string]runtime.Image{}, refs: map[string]string{}}
	base := f.rt.add(runtime.Image{ID: "sha256:base", Refs: []string{baseRef}, Size: 1 << 20, Layers: 1})
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
		now := f.clk.Now().Add(time.Duration(i) * time.Millisecond)
		img := f.rt.add(runtime.Image{ID: fmt.Sprintf("sha256:%064d", i), Refs: []string{ref}, Size: 1 << 20,
			Layers: 2, Labels: labels, Created: now})
		err = st.Put(ctx, store.Snapshot{Key: store.Key{Runtime: "fake", Project: DefaultProject, WorkItem: item},
			Image: ref, ImageID: img.ID, BaseImage: baseRef, BaseImageID: base.ID, Size: img.Size,
			Layers: img.Layers, Generation: 1, Created: now, LastUsed: now})
		if err != nil {
			return err
		}
	}
	return nil
}

// benchRuntime is an in-memory engine answering in O(1), so that the
// benchmarks measure the core and not the runtime (the fake's image
// listing grows with the square of the images).
type benchRuntime struct {
	runtime.Runtime // everything else: not used by the benchmarks
	mu              sync.Mutex
	images          map[string]runtime.Image // by ID
	refs            map[string]string        // ref -> ID
}

func (r *benchRuntime) add(img runtime.Image) runtime.Image {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.images[img.ID] = img
	for _, ref := range img.Refs {
		r.refs[ref] = img.ID
	}
	return img
}

func (r *benchRuntime) Info(context.Context) (runtime.Info, error) {
	return runtime.Info{Name: "bench", Capabilities: []runtime.Capability{runtime.CapCommit, runtime.CapSquash}}, nil
}

func (r *benchRuntime) InspectImage(_ context.Context, ref string) (runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id, ok := r.refs[ref]; ok {
		ref = id
	}
	img, ok := r.images[ref]
	if !ok {
		return img, runtime.ErrNotFound
	}
	return img, nil
}

func (r *benchRuntime) ListImages(_ context.Context, f runtime.LabelFilter) ([]runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Image
	for _, img := range r.images {
		if f.Match(img.Labels) {
			out = append(out, img)
		}
	}
	return out, nil
}

func (r *benchRuntime) ListContainers(context.Context, runtime.LabelFilter) ([]runtime.Container, error) {
	return nil, nil
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	defer reportCPU(b)()
	for i := 0; b.Loop(); i++ {
		j := Job{Runtime: "fake", Project: DefaultProject, Image: baseRef, WorkItem: "item-" + strconv.Itoa(i%benchSnapshots)}
		sel, err := c.selectImage(ctx, rt, j)
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
		if err := c.st.FinishJob(ctx, id, true, nil, &sel.key, c.now()); err != nil {
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
	if err != nil {
		b.Fatal(err)
	}
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
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rt.LoadImage(ctx, bytes.NewReader(tarball)); err != nil {
		b.Fatal(err)
	}
	c, err := Open(ctx, Config{StateDir: b.TempDir(), Runtimes: RuntimeList{{Name: "fake", Runtime: rt}}, Policy: Policy{Enabled: true}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for i := 0; b.Loop(); i++ {
		res, err := c.Run(ctx, Job{Image: baseRef, Cmd: []string{"true"}, WorkItem: "run-" + strconv.Itoa(i%100)})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(err)
		}
	}
}
