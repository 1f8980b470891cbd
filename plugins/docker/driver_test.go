package docker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

func TestRunWaitLogs(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	for range 3 { // Wait works any number of times after the exit
		st, err := d.Wait(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 3 || st.OOMKilled {
			t.Fatalf("status %+v, want exit 3", st)
		}
	}
	var out, errOut bytes.Buffer
	if err := d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errOut.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	got, err := d.InspectContainer(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != runtime.StateExited || got.Image != baseRef || got.Labels[testLabel] != testValue {
		t.Fatalf("inspect: %+v", got)
	}
	if _, ok := got.Labels[secretLabel]; ok {
		t.Fatalf("the driver's own label leaked: %v", got.Labels)
	}
}

func TestWaitFreshDriver(t *testing.T) {
	// A driver that did not run the container (another process, a restart)
	// still waits for it.
	d := newDriver(t)
	c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "sleep 0.3; exit 5"}})
	other := newDriver(t)
	for range 2 {
		st, err := other.Wait(context.Background(), c.ID)
		if err != nil || st.ExitCode != 5 {
			t.Fatalf("wait from another driver: %+v, %v", st, err)
		}
	}
}

func TestWaitCancel(t *testing.T) {
	d := newDriver(t)
	c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sleep", "30"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Wait(ctx, c.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
	got, err := d.InspectContainer(context.Background(), c.ID)
	if err != nil || got.State != runtime.StateRunning {
		t.Fatalf("the container was touched: %+v, %v", got, err)
	}
}

func TestStop(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"echo ready; sleep 30", 143},                          // SIGTERM ends it
		{"trap '' TERM; echo ready; sleep 30", 137},            // SIGTERM ignored: killed after the grace
		{"trap 'exit 7' TERM; echo ready; sleep 30 & wait", 7}, // handled
	} {
		c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", tc.script}})
		waitOutput(t, d, c.ID, "ready") // sh has installed its trap
		if err := d.Stop(ctx, c.ID, runtime.StopOptions{Grace: 500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		st, err := d.Wait(ctx, c.ID)
		if err != nil || st.ExitCode != tc.want {
			t.Fatalf("%q: %+v, %v; want exit %d", tc.script, st, err, tc.want)
		}
		if err := d.Stop(ctx, c.ID, runtime.StopOptions{}); err != nil {
			t.Fatalf("stop of an exited container: %v", err)
		}
	}
}

func TestLimits(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, MemoryBytes: 64 << 20, NanoCPUs: 500_000_000})
	res, err := raw.ContainerInspect(context.Background(), c.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc := res.Container.HostConfig
	if hc.Memory != 64<<20 || hc.NanoCPUs != 500_000_000 || hc.AutoRemove {
		t.Fatalf("host config: memory %d, nanocpus %d, autoremove %v", hc.Memory, hc.NanoCPUs, hc.AutoRemove)
	}
}

func TestOOMKilled(t *testing.T) {
	d := newDriver(t)
	// dd fills a 100 MB buffer.
	c := run(t, d, runtime.ContainerSpec{
		Cmd:         []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"},
		MemoryBytes: 16 << 20,
	})
	st, err := d.Wait(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled {
		t.Fatalf("status %+v, want OOMKilled", st)
	}
}

func TestErrorClasses(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	missing := "berth-dockertest-missing-0123456789"
	c := run(t, d, runtime.ContainerSpec{Name: "berth-dockertest-taken", Cmd: []string{"sleep", "30"}})
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"inspect missing image", second(d.InspectImage(ctx, "berth-dockertest/none:x")), runtime.ErrNotFound},
		{"remove missing image", d.RemoveImage(ctx, "berth-dockertest/none:x"), runtime.ErrNotFound},
		{"remove image in use", d.RemoveImage(ctx, baseImage(t)), runtime.ErrConflict},
		{"inspect missing container", second(d.InspectContainer(ctx, missing)), runtime.ErrNotFound},
		{"wait missing container", second(d.Wait(ctx, missing)), runtime.ErrNotFound},
		{"stop missing container", d.Stop(ctx, missing, runtime.StopOptions{}), runtime.ErrNotFound},
		{"remove missing container", d.Remove(ctx, missing), runtime.ErrNotFound},
		{"logs missing container", d.Logs(ctx, missing, runtime.LogOptions{}, nil, nil), runtime.ErrNotFound},
		{"commit missing container", second(d.Commit(ctx, missing, runtime.CommitOptions{Ref: newRef()})), runtime.ErrNotFound},
		{"commit running container", second(d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: newRef()})), runtime.ErrFailedPrecondition},
		{"commit without ref", second(d.Commit(ctx, c.ID, runtime.CommitOptions{})), runtime.ErrInvalidArgument},
		{"commit bad ref", second(d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "Bad Ref"})), runtime.ErrInvalidArgument},
		{"run missing image", second(d.Run(ctx, runtime.ContainerSpec{Image: "berth-dockertest/none:x"})), runtime.ErrNotFound},
		{"run without image", second(d.Run(ctx, runtime.ContainerSpec{})), runtime.ErrInvalidArgument},
		{"run bad env", second(d.Run(ctx, runtime.ContainerSpec{Image: baseRef, Env: []string{"NOEQUALS"}})), runtime.ErrInvalidArgument},
		{"run negative memory", second(d.Run(ctx, runtime.ContainerSpec{Image: baseRef, MemoryBytes: -1})), runtime.ErrInvalidArgument},
		{"run bad name", second(d.Run(ctx, runtime.ContainerSpec{Image: baseRef, Name: "/bad name!"})), runtime.ErrInvalidArgument},
		{"run taken name", second(d.Run(ctx, runtime.ContainerSpec{Image: baseRef, Name: "berth-dockertest-taken"})), runtime.ErrAlreadyExists},
		{"load garbage", second(d.LoadImage(ctx, strings.NewReader("not a tar"))), runtime.ErrInvalidArgument},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// Nothing was left behind by the failed runs.
	cs, err := d.ListContainers(ctx, runtime.LabelFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range cs {
		if x.Image == "berth-dockertest/none:x" || (x.Image == baseRef && x.ID != c.ID && len(x.Labels) == 0) {
			t.Errorf("a failed run left container %+v", x)
		}
	}
}

func TestUnreachable(t *testing.T) {
	d, err := New(WithAddress("unix:///nonexistent/docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	err = d.Ping(ctx)
	if !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), "/nonexistent/docker.sock") {
		t.Fatalf("ping: %v, want ErrUnavailable naming the address", err)
	}
	if _, err := d.Run(ctx, runtime.ContainerSpec{Image: "x"}); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("run: %v, want ErrUnavailable", err)
	}
	info, err := d.Info(ctx)
	if err != nil || info.EngineVersion != "" || !info.Has(runtime.CapCommit) {
		t.Fatalf("info with the daemon down: %+v, %v", info, err)
	}
}

func TestInfo(t *testing.T) {
	d := newDriver(t)
	info, err := d.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "docker" || info.EngineVersion == "" || info.ProtocolVersion != runtime.ProtocolVersion {
		t.Fatalf("info: %+v", info)
	}
	for _, c := range []runtime.Capability{runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits} {
		if !info.Has(c) {
			t.Errorf("capability %s missing", c)
		}
	}
}

func TestRemoveImageRefs(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	ctx := context.Background()
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}})
	img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef()})
	second := newRef()
	if _, err := raw.ImageTag(ctx, client.ImageTagOptions{Source: img.ID, Target: second}); err != nil {
		t.Fatal(err)
	}
	// Removing one of two references only untags.
	if err := d.RemoveImage(ctx, img.Refs[0]); err != nil {
		t.Fatal(err)
	}
	got, err := d.InspectImage(ctx, img.ID)
	if err != nil || !slices.Equal(got.Refs, []string{second}) {
		t.Fatalf("after untag: %+v, %v", got, err)
	}
	// A third reference, then removal by ID: the image goes.
	if _, err := raw.ImageTag(ctx, client.ImageTagOptions{Source: img.ID, Target: newRef()}); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveImage(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.InspectImage(ctx, img.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("after removal by ID: %v", err)
	}
}

func TestListByLabel(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	a := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, Labels: map[string]string{"io.berth.dt.list": "a"}})
	b := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, Labels: map[string]string{"io.berth.dt.list": "b"}})
	ids := func(f runtime.LabelFilter) []string {
		cs, err := d.ListContainers(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	both := []string{a.ID, b.ID}
	slices.Sort(both)
	if got := ids(runtime.LabelFilter{"io.berth.dt.list": ""}); !slices.Equal(got, both) {
		t.Fatalf("key present: %v, want %v", got, both)
	}
	if got := ids(runtime.LabelFilter{"io.berth.dt.list": "b"}); !slices.Equal(got, []string{b.ID}) {
		t.Fatalf("exact value: %v", got)
	}
	img := commit(t, d, a.ID, runtime.CommitOptions{Ref: newRef(), Labels: map[string]string{"io.berth.dt.img": "x"}})
	imgs, err := d.ListImages(ctx, runtime.LabelFilter{"io.berth.dt.img": "x"})
	if err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Layers != img.Layers {
		t.Fatalf("list images: %+v, %v", imgs, err)
	}
}

// second returns the error of a two-result call.
func second[T any](_ T, err error) error { return err }

// TestMemoryLimitCoversSwap checks, from inside the container, that
// MemoryBytes caps memory and swap together at the value.
func TestMemoryLimitCoversSwap(t *testing.T) {
	d := newDriver(t)
	const limit = 64 << 20
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", drivertest.MemoryScript}, MemoryBytes: limit})
	var out bytes.Buffer
	if err := d.Logs(context.Background(), c.ID, runtime.LogOptions{}, &out, &out); err != nil {
		t.Fatal(err)
	}
	drivertest.CheckMemoryLimits(t, out.String(), limit)
}

// longValue returns a label value of n characters, unique to the call.
func longValue(n int) string {
	v := newRef() + "-"
	return v + strings.Repeat("w", n-len(v))
}

// TestLongLabels runs a container and commits an image with a
// 5,000-character label value (a long work item): inspect and list return
// it exactly, and a filter matches it exactly.
func TestLongLabels(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	const key, imgKey = "io.berth.dt.long", "io.berth.dt.long-image"
	value, other := longValue(5000), longValue(5000)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, Labels: map[string]string{key: value}})
	got, err := d.InspectContainer(ctx, c.ID)
	if err != nil || got.Labels[key] != value {
		t.Fatalf("inspect container: label of %d characters, %v; want the %d given", len(got.Labels[key]), err, len(value))
	}
	containerIDs := func(f runtime.LabelFilter) []string {
		cs, err := d.ListContainers(ctx, f)
		if err != nil {
			t.Fatalf("list containers: %v", err)
		}
		var ids []string
		for _, c := range cs {
			if c.Labels[key] != value {
				t.Errorf("list containers: label of %d characters, want the %d given", len(c.Labels[key]), len(value))
			}
			ids = append(ids, c.ID)
		}
		return ids
	}
	if ids := containerIDs(runtime.LabelFilter{key: value}); !slices.Equal(ids, []string{c.ID}) {
		t.Errorf("list containers by the long value: %v, want [%s]", ids, c.ID)
	}
	if ids := containerIDs(runtime.LabelFilter{key: value[:len(value)-1] + "x"}); len(ids) != 0 {
		t.Errorf("list containers by another long value: %v, want none", ids)
	}
	for _, squash := range []bool{false, true} {
		img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef(), Squash: squash, Labels: map[string]string{imgKey: other}})
		if img.Labels[key] != value || img.Labels[imgKey] != other {
			t.Errorf("squash=%v: commit: labels of %d and %d characters, want 5000", squash, len(img.Labels[key]), len(img.Labels[imgKey]))
		}
		imgs, err := d.ListImages(ctx, runtime.LabelFilter{imgKey: other, key: value})
		if err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Labels[imgKey] != other {
			t.Errorf("squash=%v: list images by the long values: %d images, %v; want %s", squash, len(imgs), err, img.ID)
		}
		if imgs, err := d.ListImages(ctx, runtime.LabelFilter{imgKey: other[:len(other)-1] + "x"}); err != nil || len(imgs) != 0 {
			t.Errorf("squash=%v: list images by another long value: %d images, %v; want none", squash, len(imgs), err)
		}
		other = longValue(5000)
	}
}

// waitOutput follows the container's standard output until it holds want.
func waitOutput(t *testing.T, d *Driver, id, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &watchWriter{want: want, found: cancel}
	err := d.Logs(ctx, id, runtime.LogOptions{Follow: true}, w, io.Discard)
	if !w.seen() {
		t.Fatalf("the output of %s never held %q (logs: %v): %q", id, want, err, w.buf.String())
	}
}

// watchWriter collects what is written and calls found once it holds want.
type watchWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found func()
	done  bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		w.found()
	}
	return len(p), nil
}

func (w *watchWriter) seen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}
