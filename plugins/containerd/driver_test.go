package containerd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// TestUnavailable checks a daemon that is not there: Info still answers,
// everything else is ErrUnavailable naming the socket.
func TestUnavailable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "no-containerd.sock")
	d, err := New(Options{Address: sock, Namespace: testNamespace})
	require.NoError(t, err, "New")
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := d.Info(ctx)
	assert.False(t, err != nil || info.Name != "containerd" || info.EngineVersion != "", "Info = %+v, %v; want the driver's info without engine version", info, err)
	err = d.Ping(ctx)
	assert.False(t, !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), sock), "Ping: %v; want ErrUnavailable naming %s", err, sock)
	_, err = d.Run(ctx, runtime.ContainerSpec{Image: "x", Cmd: []string{"true"}})
	assert.False(t, !errors.Is(err, runtime.ErrUnavailable) || !strings.Contains(err.Error(), sock), "Run: %v; want ErrUnavailable naming %s", err, sock)
	assert.ErrorIs(t, second(d.ListImages(ctx, nil)), runtime.ErrUnavailable, "ListImages")
}

// TestBadOptions checks the options New refuses.
func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{Namespace: "moby"},
		{LayerCompression: "lz4"},
		{Init: filepath.Join(t.TempDir(), "no-init")},
	} {
		assert.ErrorIs(t, second(New(o)), runtime.ErrInvalidArgument, "New(%+v)", o)
	}
}

// TestBadSpecs checks that malformed specs are refused with
// ErrInvalidArgument and leave no container.
func TestBadSpecs(t *testing.T) {
	d := newDriver(t)
	base := loadBase(t, d)
	ctx := context.Background()
	label := map[string]string{"io.berth.test.bad": randomHex(4)}
	for name, spec := range map[string]runtime.ContainerSpec{
		"empty image":    {Cmd: []string{"true"}},
		"bad ref":        {Image: "Not A Ref", Cmd: []string{"true"}},
		"bad name":       {Image: base, Name: "white space", Cmd: []string{"true"}},
		"env":            {Image: base, Env: []string{"NOVALUE"}, Cmd: []string{"true"}},
		"secret env":     {Image: base, SecretEnv: []string{"=v"}, Cmd: []string{"true"}},
		"memory":         {Image: base, MemoryBytes: -5, Cmd: []string{"true"}},
		"cpu":            {Image: base, NanoCPUs: -1, Cmd: []string{"true"}},
		"reserved label": {Image: base, Labels: map[string]string{"io.berth.containerd.image": "x"}, Cmd: []string{"true"}},
	} {
		if spec.Labels == nil {
			spec.Labels = label
		}
		assert.ErrorIs(t, second(d.Run(ctx, spec)), runtime.ErrInvalidArgument, "Run with bad %s", name)
	}
	cs, err := d.ListContainers(ctx, label)
	assert.False(t, err != nil || len(cs) != 0, "containers left by refused runs: %v, %v", cs, err)
	assert.ErrorIs(t, d.Stop(ctx, "x", runtime.StopOptions{Signal: "SIGNOPE"}), runtime.ErrInvalidArgument, "Stop with a bad signal")
}

// TestRefs checks that short references and IDs find images stored under
// containerd's long names, and that references come back short.
func TestRefs(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	ref := "berth-test/refs-" + randomHex(4) + ":g1"
	tarball, err := testimage.Tar(testimage.Options{Ref: ref, Files: map[string][]byte{"/work/r": []byte(ref)}})
	require.NoError(t, err)
	imgs, err := d.LoadImage(ctx, bytes.NewReader(tarball))
	require.NoError(t, err)
	t.Cleanup(func() { removeImage(t, d, ref) })
	require.False(t, len(imgs) != 1 || !slices.Equal(imgs[0].Refs, []string{ref}), "LoadImage = %+v; want one image with ref %s", imgs, ref)
	id := imgs[0].ID
	for _, r := range []string{ref, "docker.io/" + ref, id, strings.TrimPrefix(id, "sha256:"), id[:19]} {
		img, err := d.InspectImage(ctx, r)
		assert.False(t, err != nil || img.ID != id || !slices.Equal(img.Refs, []string{ref}), "InspectImage(%s) = %+v, %v; want ID %s refs [%s]", r, img, err, id, ref)
	}
	c := runDone(t, d, runtime.ContainerSpec{Image: id, Cmd: []string{"true"}})
	got, err := d.InspectContainer(ctx, c.ID)
	assert.False(t, err != nil || got.Image != id, "container image = %q, %v; want it as given (%s)", got.Image, err, id)
	assert.ErrorIs(t, d.RemoveImage(ctx, ref), runtime.ErrConflict, "RemoveImage of an image in use by a container made from its ID")
}

// TestLimits checks that the memory and CPU limits reach the container's
// cgroup (read from the host: the container does not mount cgroupfs), and
// that an out-of-memory kill is reported.
func TestLimits(t *testing.T) {
	d := newDriver(t)
	base := loadBase(t, d)
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{
		Image:       base,
		Cmd:         []string{"sleep", "30"},
		MemoryBytes: 64 << 20,
		NanoCPUs:    500_000_000,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Remove(ctx, c.ID) })
	// The container's cgroup, as the host sees it (cgroup v1).
	cg := func(ctrl, file string) string {
		b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, d.Namespace(), c.ID, file))
		drivertest.Require(t, "no cgroup v1 "+ctrl+" controller: the limits cannot be checked", err)
		return strings.TrimSpace(string(b))
	}
	got := cg("memory", "memory.limit_in_bytes")
	assert.Equal(t, "67108864", got, "memory limit = %s, want 67108864", got)
	q, p := cg("cpu", "cpu.cfs_quota_us"), cg("cpu", "cpu.cfs_period_us")
	assert.False(t, q != "50000" || p != "100000", "CPU quota/period = %s/%s, want 50000/100000", q, p)

	oom, err := d.Run(ctx, runtime.ContainerSpec{
		Image:       base,
		Cmd:         []string{"sh", "-c", "x=$(head -c 200000000 /dev/urandom); echo survived"},
		MemoryBytes: 16 << 20,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Remove(ctx, oom.ID) })
	st, err := d.Wait(ctx, oom.ID)
	require.NoError(t, err)
	assert.False(t, !st.OOMKilled || st.ExitCode == 0, "job over its memory limit: %+v; want OOMKilled and a failure", st)
}

// TestReattach checks that a driver that did not start a container still
// follows its output and sees its exit, after the first driver is gone.
func TestReattach(t *testing.T) {
	base := loadBase(t, newDriver(t))
	d1 := newDriver(t)
	ctx := context.Background()
	c, err := d1.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"sh", "-c", "echo one; sleep 1; echo two; echo bad >&2; exit 7"}})
	require.NoError(t, err)
	d1.Close()
	d2 := newDriver(t)
	t.Cleanup(func() {
		assert.NoError(t, d2.Remove(ctx, c.ID), "Remove")
	})
	var out, errb bytes.Buffer
	require.NoError(t, d2.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errb))
	assert.False(t, out.String() != "one\ntwo\n" || errb.String() != "bad\n", "output followed by a second driver: %q %q", out.String(), errb.String())
	d3 := newDriver(t)
	for _, d := range []*Driver{d2, d3} {
		st, err := d.Wait(ctx, c.ID)
		assert.False(t, err != nil || st.ExitCode != 7, "Wait = %+v, %v; want exit 7", st, err)
	}
	got, err := d3.InspectContainer(ctx, c.ID)
	assert.False(t, err != nil || got.State != runtime.StateExited, "InspectContainer = %+v, %v; want exited", got, err)
}

// TestMemoryLimitCoversSwap checks, from inside the container, that
// MemoryBytes caps memory and swap together at the value.
func TestMemoryLimitCoversSwap(t *testing.T) {
	d := newDriver(t)
	const limit = 64 << 20
	c := runDone(t, d, runtime.ContainerSpec{Image: loadBase(t, d), Cmd: []string{"sh", "-c", drivertest.MemoryScript}, MemoryBytes: limit})
	var out bytes.Buffer
	require.NoError(t, d.Logs(context.Background(), c.ID, runtime.LogOptions{}, &out, &out))
	drivertest.CheckMemoryLimits(t, out.String(), limit)
}

// TestLongLabels runs a container and commits an image with a
// 5,000-character label value (a long work item), in process and over the
// wire: inspect and list return it exactly, and a filter matches it
// exactly.
func TestLongLabels(t *testing.T) {
	for name, rt := range map[string]runtime.Runtime{
		"in-process": newDriver(t),
		"wire":       openPlugin(t),
	} {
		t.Run(name, func(t *testing.T) { testLongLabels(t, rt) })
	}
}

func testLongLabels(t *testing.T, rt runtime.Runtime) {
	ctx := context.Background()
	const key, imgKey = "io.berth.test.long", "io.berth.test.long-image"
	long := func() string { return randomHex(8) + "-" + strings.Repeat("w", 5000-17) }
	value, other := long(), long()
	c := runDone(t, rt, runtime.ContainerSpec{Image: loadBase(t, rt), Cmd: []string{"true"}, Labels: map[string]string{key: value, "io.berth.test.short": "s"}})
	got, err := rt.InspectContainer(ctx, c.ID)
	require.False(t, err != nil || got.Labels[key] != value || got.Labels["io.berth.test.short"] != "s" || len(got.Labels) != 2, "inspect container: label of %d characters, labels %d, %v; want the %d given", len(got.Labels[key]), len(got.Labels), err, len(value))
	containerIDs := func(f runtime.LabelFilter) []string {
		cs, err := rt.ListContainers(ctx, f)
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
	assert.Empty(t, containerIDs(runtime.LabelFilter{key: longLabelValue(value)}), "list containers by the stored form of the long value")
	for _, squash := range []bool{false, true} {
		ref := "berth-test/long-" + randomHex(4) + ":g1"
		t.Cleanup(func() { removeImage(t, rt, ref) })
		img, err := rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref, Squash: squash, Labels: map[string]string{imgKey: other, key: value}})
		require.NoError(t, err, "squash=%v: commit", squash)
		assert.False(t, img.Labels[key] != value || img.Labels[imgKey] != other, "squash=%v: commit: labels of %d and %d characters, want 5000", squash, len(img.Labels[key]), len(img.Labels[imgKey]))
		imgs, err := rt.ListImages(ctx, runtime.LabelFilter{imgKey: other, key: value})
		assert.False(t, err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Labels[imgKey] != other, "squash=%v: list images by the long values: %d images, %v; want %s", squash, len(imgs), err, img.ID)
		imgs, err = rt.ListImages(ctx, runtime.LabelFilter{imgKey: other[:len(other)-1] + "x"})
		assert.False(t, err != nil || len(imgs) != 0, "squash=%v: list images by another long value: %d images, %v; want none", squash, len(imgs), err)
		other = long()
	}
}
