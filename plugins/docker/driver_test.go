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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

func TestRunWaitLogs(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	for range 3 { // Wait works any number of times after the exit
		st, err := d.Wait(ctx, c.ID)
		require.NoError(t, err)
		require.False(t, st.ExitCode != 3 || st.OOMKilled, "status %+v, want exit 3", st)
	}
	var out, errOut bytes.Buffer
	require.NoError(t, d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errOut))
	require.False(t, out.String() != "out\n" || errOut.String() != "err\n", "stdout %q stderr %q", out.String(), errOut.String())
	got, err := d.InspectContainer(ctx, c.ID)
	require.NoError(t, err)
	require.False(t, got.State != runtime.StateExited || got.Image != baseRef || got.Labels[testLabel] != testValue, "inspect: %+v", got)
	require.NotContains(t, got.Labels, secretLabel, "the driver's own label leaked")
}

func TestWaitFreshDriver(t *testing.T) {
	// A driver that did not run the container (another process, a restart)
	// still waits for it.
	d := newDriver(t)
	c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "sleep 0.3; exit 5"}})
	other := newDriver(t)
	for range 2 {
		st, err := other.Wait(context.Background(), c.ID)
		require.False(t, err != nil || st.ExitCode != 5, "wait from another driver: %+v, %v", st, err)
	}
}

func TestWaitCancel(t *testing.T) {
	d := newDriver(t)
	c := run(t, d, runtime.ContainerSpec{Cmd: []string{"sleep", "30"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, second(d.Wait(ctx, c.ID)), context.Canceled, "wait with a cancelled context")
	got, err := d.InspectContainer(context.Background(), c.ID)
	require.False(t, err != nil || got.State != runtime.StateRunning, "the container was touched: %+v, %v", got, err)
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
		require.NoError(t, d.Stop(ctx, c.ID, runtime.StopOptions{Grace: 500 * time.Millisecond}))
		st, err := d.Wait(ctx, c.ID)
		require.False(t, err != nil || st.ExitCode != tc.want, "%q: %+v, %v; want exit %d", tc.script, st, err, tc.want)
		require.NoError(t, d.Stop(ctx, c.ID, runtime.StopOptions{}), "stop of an exited container")
	}
}

func TestLimits(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, MemoryBytes: 64 << 20, NanoCPUs: 500_000_000})
	res, err := raw.ContainerInspect(context.Background(), c.ID, client.ContainerInspectOptions{})
	require.NoError(t, err)
	hc := res.Container.HostConfig
	require.False(t, hc.Memory != 64<<20 || hc.NanoCPUs != 500_000_000 || hc.AutoRemove, "host config: memory %d, nanocpus %d, autoremove %v", hc.Memory, hc.NanoCPUs, hc.AutoRemove)
}

func TestOOMKilled(t *testing.T) {
	d := newDriver(t)
	// dd fills a 100 MB buffer.
	c := run(t, d, runtime.ContainerSpec{
		Cmd:         []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"},
		MemoryBytes: 16 << 20,
	})
	st, err := d.Wait(context.Background(), c.ID)
	require.NoError(t, err)
	require.True(t, st.OOMKilled, "status %+v, want OOMKilled", st)
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
		assert.ErrorIs(t, tc.err, tc.want, "%s", tc.name)
	}
	// Nothing was left behind by the failed runs.
	cs, err := d.ListContainers(ctx, runtime.LabelFilter{})
	require.NoError(t, err)
	for _, x := range cs {
		assert.False(t, x.Image == "berth-dockertest/none:x" || (x.Image == baseRef && x.ID != c.ID && len(x.Labels) == 0), "a failed run left container %+v", x)
	}
}

func TestUnreachable(t *testing.T) {
	d, err := New(WithAddress("unix:///nonexistent/docker.sock"))
	require.NoError(t, err)
	defer d.Close()
	ctx := context.Background()
	err = d.Ping(ctx)
	require.False(t, !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), "/nonexistent/docker.sock"), "ping: %v, want ErrUnavailable naming the address", err)
	require.ErrorIs(t, second(d.Run(ctx, runtime.ContainerSpec{Image: "x"})), runtime.ErrUnavailable, "run")
	info, err := d.Info(ctx)
	require.False(t, err != nil || info.EngineVersion != "" || !info.Has(runtime.CapCommit), "info with the daemon down: %+v, %v", info, err)
}

func TestInfo(t *testing.T) {
	d := newDriver(t)
	info, err := d.Info(context.Background())
	require.NoError(t, err)
	require.False(t, info.Name != "docker" || info.EngineVersion == "" || info.ProtocolVersion != runtime.ProtocolVersion, "info: %+v", info)
	for _, c := range []runtime.Capability{runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits} {
		assert.True(t, info.Has(c), "capability %s missing", c)
	}
}

func TestRemoveImageRefs(t *testing.T) {
	d := newDriver(t)
	raw := rawClient(t)
	ctx := context.Background()
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}})
	img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef()})
	second := newRef()
	_, err := raw.ImageTag(ctx, client.ImageTagOptions{Source: img.ID, Target: second})
	require.NoError(t, err)
	// Removing one of two references only untags.
	require.NoError(t, d.RemoveImage(ctx, img.Refs[0]))
	got, err := d.InspectImage(ctx, img.ID)
	require.NoError(t, err, "inspect after untag")
	require.Equal(t, []string{second}, got.Refs, "references after untag")
	// A third reference, then removal by ID: the image goes.
	_, err = raw.ImageTag(ctx, client.ImageTagOptions{Source: img.ID, Target: newRef()})
	require.NoError(t, err)
	require.NoError(t, d.RemoveImage(ctx, img.ID))
	_, err = d.InspectImage(ctx, img.ID)
	require.ErrorIs(t, err, runtime.ErrNotFound, "after removal by ID")
}

func TestListByLabel(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	a := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, Labels: map[string]string{"io.berth.dt.list": "a"}})
	b := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"true"}, Labels: map[string]string{"io.berth.dt.list": "b"}})
	ids := func(f runtime.LabelFilter) []string {
		cs, err := d.ListContainers(ctx, f)
		require.NoError(t, err)
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	both := []string{a.ID, b.ID}
	slices.Sort(both)
	require.Equal(t, both, ids(runtime.LabelFilter{"io.berth.dt.list": ""}), "filter on the key's presence")
	require.Equal(t, []string{b.ID}, ids(runtime.LabelFilter{"io.berth.dt.list": "b"}), "filter on the exact value")
	img := commit(t, d, a.ID, runtime.CommitOptions{Ref: newRef(), Labels: map[string]string{"io.berth.dt.img": "x"}})
	imgs, err := d.ListImages(ctx, runtime.LabelFilter{"io.berth.dt.img": "x"})
	require.False(t, err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Layers != img.Layers, "list images: %+v, %v", imgs, err)
}

// second returns the error of a two-result call.
// TestMemoryLimitCoversSwap checks, from inside the container, that
// MemoryBytes caps memory and swap together at the value.
func TestMemoryLimitCoversSwap(t *testing.T) {
	d := newDriver(t)
	const limit = 64 << 20
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", drivertest.MemoryScript}, MemoryBytes: limit})
	var out bytes.Buffer
	require.NoError(t, d.Logs(context.Background(), c.ID, runtime.LogOptions{}, &out, &out))
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
	require.False(t, err != nil || got.Labels[key] != value, "inspect container: label of %d characters, %v; want the %d given", len(got.Labels[key]), err, len(value))
	containerIDs := func(f runtime.LabelFilter) []string {
		cs, err := d.ListContainers(ctx, f)
		require.NoError(t, err, "list containers")
		var ids []string
		for _, c := range cs {
			assert.Equal(t, value, c.Labels[key], "list containers: label of %d characters, want the %d given", len(c.Labels[key]), len(value))
			ids = append(ids, c.ID)
		}
		return ids
	}
	assert.Equal(t, []string{c.ID}, containerIDs(runtime.LabelFilter{key: value}), "list containers by the long value")
	assert.Empty(t, containerIDs(runtime.LabelFilter{key: value[:len(value)-1] + "x"}), "list containers by another long value")
	for _, squash := range []bool{false, true} {
		img := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef(), Squash: squash, Labels: map[string]string{imgKey: other}})
		assert.False(t, img.Labels[key] != value || img.Labels[imgKey] != other, "squash=%v: commit: labels of %d and %d characters, want 5000", squash, len(img.Labels[key]), len(img.Labels[imgKey]))
		imgs, err := d.ListImages(ctx, runtime.LabelFilter{imgKey: other, key: value})
		assert.False(t, err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Labels[imgKey] != other, "squash=%v: list images by the long values: %d images, %v; want %s", squash, len(imgs), err, img.ID)
		imgs, err = d.ListImages(ctx, runtime.LabelFilter{imgKey: other[:len(other)-1] + "x"})
		assert.False(t, err != nil || len(imgs) != 0, "squash=%v: list images by another long value: %d images, %v; want none", squash, len(imgs), err)
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
	require.True(t, w.seen(), "the output of %s never held %q (logs: %v): %q", id, want, err, w.buf.String())
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
