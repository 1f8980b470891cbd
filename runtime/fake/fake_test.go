package fake_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

const baseRef = "berth-test/busybox:latest"

// newRuntime returns a fake with the test image loaded, and its context.
func newRuntime(t testing.TB, opts ...fake.Option) (*fake.Runtime, context.Context) {
	t.Helper()
	rt := fake.New(opts...)
	t.Cleanup(func() { rt.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	loadBase(t, ctx, rt, testimage.Options{Labels: map[string]string{"base": "yes"}})
	return rt, ctx
}

func loadBase(t testing.TB, ctx context.Context, rt runtime.Runtime, opts testimage.Options) []runtime.Image {
	t.Helper()
	if opts.Busybox == nil {
		opts.Busybox = []byte("not really busybox")
	}
	tarball, err := testimage.Tar(opts)
	require.NoError(t, err)
	imgs, err := rt.LoadImage(ctx, bytes.NewReader(tarball))
	require.NoError(t, err, "LoadImage")
	return imgs
}

// testimageOptions are the options of the base image newRuntime loads,
// under another reference.
func testimageOptions(ref string) testimage.Options {
	return testimage.Options{Ref: ref, Labels: map[string]string{"base": "yes"}}
}

// result is how a container ended.
type result struct {
	id             string
	status         runtime.ExitStatus
	stdout, stderr string
}

// runSpec runs spec to its end.
func runSpec(t testing.TB, ctx context.Context, rt runtime.Runtime, spec runtime.ContainerSpec) result {
	t.Helper()
	c, err := rt.Run(ctx, spec)
	require.NoError(t, err, "Run(%q)", spec.Cmd)
	st, err := rt.Wait(ctx, c.ID)
	require.NoError(t, err, "Wait")
	var out, errb bytes.Buffer
	require.NoError(t, rt.Logs(ctx, c.ID, runtime.LogOptions{}, &out, &errb), "Logs")
	return result{c.ID, st, out.String(), errb.String()}
}

// sh runs script on image to its end.
func sh(t testing.TB, ctx context.Context, rt runtime.Runtime, image, script string) result {
	t.Helper()
	return runSpec(t, ctx, rt, runtime.ContainerSpec{Image: image, Cmd: []string{"sh", "-c", script}})
}

// waitOutput waits until the container's stdout holds want.
func waitOutput(t testing.TB, ctx context.Context, rt runtime.Runtime, id, want string) {
	t.Helper()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var out bytes.Buffer
		require.NoError(c, rt.Logs(ctx, id, runtime.LogOptions{}, &out, nil), "Logs")
		assert.Contains(c, out.String(), want)
	}, 30*time.Second, 5*time.Millisecond, "container %s printing %q", id, want)
}

func TestLoadTestImage(t *testing.T) {
	ctx := context.Background()
	rt := fake.New()
	imgs := loadBase(t, ctx, rt, testimage.Options{Ref: "x/base:1", Labels: map[string]string{"k": "v"}})
	require.Len(t, imgs, 1, "images LoadImage returned")
	img := imgs[0]
	assert.True(t, strings.HasPrefix(img.ID, "sha256:"), "image ID %q", img.ID)
	assert.Equal(t, []string{"x/base:1"}, img.Refs)
	assert.Equal(t, 1, img.Layers, "layers")
	assert.Equal(t, "v", img.Labels["k"], "label k")
	assert.NotZero(t, img.Size, "size")
	assert.False(t, img.Created.IsZero(), "creation time")
	again := loadBase(t, ctx, rt, testimage.Options{Ref: "x/base:1", Labels: map[string]string{"k": "v"}})
	assert.Equal(t, img.ID, again[0].ID, "ID of the same archive loaded twice")
	r := sh(t, ctx, rt, "x/base:1", `test -d /tmp && test -d /work && cat /etc/passwd && test -f /bin/sh && echo "$PATH"`)
	assert.Equal(t, 0, r.status.ExitCode, "run on the loaded image: %+v", r)
	assert.Equal(t, "root:x:0:0:root:/root:/bin/sh\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", r.stdout, "run on the loaded image")
}

func TestLoadBadArchive(t *testing.T) {
	rt := fake.New()
	for _, in := range [][]byte{[]byte("not a tar"), {}} {
		_, err := rt.LoadImage(context.Background(), bytes.NewReader(in))
		assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "LoadImage(%q)", in)
	}
	imgs, _ := rt.ListImages(context.Background(), nil)
	assert.Empty(t, imgs, "images after a failed load")
}

func TestRunErrors(t *testing.T) {
	rt, ctx := newRuntime(t)
	for _, tc := range []struct {
		spec runtime.ContainerSpec
		want error
	}{
		{runtime.ContainerSpec{}, runtime.ErrInvalidArgument},
		{runtime.ContainerSpec{Image: "nope:1", Cmd: []string{"true"}}, runtime.ErrNotFound},
		{runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Env: []string{"NOEQUALS"}}, runtime.ErrInvalidArgument},
		{runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, SecretEnv: []string{"=x"}}, runtime.ErrInvalidArgument},
		{runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, MemoryBytes: -1}, runtime.ErrInvalidArgument},
		{runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Name: "bad name"}, runtime.ErrInvalidArgument},
		{runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, WorkingDir: "relative"}, runtime.ErrInvalidArgument},
	} {
		_, err := rt.Run(ctx, tc.spec)
		assert.ErrorIs(t, err, tc.want, "Run(%+v)", tc.spec)
	}
	_, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Name: "one"})
	require.NoError(t, err)
	_, err = rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Name: "one"})
	assert.ErrorIs(t, err, runtime.ErrAlreadyExists, "Run with a taken name")
	cs, _ := rt.ListContainers(ctx, nil)
	assert.Len(t, cs, 1, "containers after refused runs")
	_, err = rt.Wait(ctx, "one")
	assert.NoError(t, err, "Wait by name")
}

func TestRunEnvironment(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := runSpec(t, ctx, rt, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", `echo "$A $S $HOSTNAME"; pwd`},
		Env: []string{"A=1"}, SecretEnv: []string{"S=secret"}, WorkingDir: "/new/dir",
	})
	assert.Equal(t, "1 secret "+r.id[:12]+"\n/new/dir\n", r.stdout)
	r = runSpec(t, ctx, rt, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"echo", "direct", "$A"}})
	assert.Equal(t, "direct $A\n", r.stdout, "argv command")
	r = runSpec(t, ctx, rt, runtime.ContainerSpec{Image: baseRef})
	assert.Equal(t, 0, r.status.ExitCode, "image command (sh with no input): %+v", r)
}

func TestOOM(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := runSpec(t, ctx, rt, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", "head -c 1000 /dev/zero > /tmp/a; echo small; head -c 2000 /dev/zero > /tmp/b; echo big"},
		MemoryBytes: 1500,
	})
	assert.Equal(t, runtime.ExitStatus{ExitCode: 137, OOMKilled: true}, r.status, "status over the memory limit")
	assert.Equal(t, "small\n", r.stdout, "stdout over the memory limit")
	rt2 := fake.New(fake.WithCapabilities(runtime.CapLoad, runtime.CapCommit))
	_, err := rt2.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, MemoryBytes: 1 << 20})
	assert.ErrorIs(t, err, runtime.ErrNotImplemented, "limits without CapLimits")
}

func TestStop(t *testing.T) {
	rt, ctx := newRuntime(t)
	for _, tc := range []struct {
		script string
		opts   runtime.StopOptions
		want   int
	}{
		{"echo ready; sleep 30", runtime.StopOptions{Grace: time.Minute}, 143},
		{"trap '' TERM; echo ready; sleep 30", runtime.StopOptions{Grace: 50 * time.Millisecond}, 137},
		{"echo ready; sleep 30", runtime.StopOptions{Signal: "SIGKILL", Grace: time.Minute}, 137},
		{"echo ready; sleep 30", runtime.StopOptions{Signal: "INT", Grace: time.Minute}, 130},
		{"echo ready; sleep 30", runtime.StopOptions{}, 137},
	} {
		c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", tc.script}})
		require.NoError(t, err)
		waitOutput(t, ctx, rt, c.ID, "ready")
		require.NoError(t, rt.Stop(ctx, c.ID, tc.opts), "Stop")
		got, err := rt.InspectContainer(ctx, c.ID)
		if assert.NoError(t, err, "%q: inspect after Stop", tc.script) {
			assert.Equal(t, runtime.StateExited, got.State, "%q: state after Stop", tc.script)
		}
		st, _ := rt.Wait(ctx, c.ID)
		assert.Equal(t, tc.want, st.ExitCode, "%q stopped with %+v", tc.script, tc.opts)
	}
	c, _ := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	assert.ErrorIs(t, rt.Stop(ctx, c.ID, runtime.StopOptions{Signal: "SIGNOPE"}), runtime.ErrInvalidArgument, "Stop with a bad signal")
	assert.ErrorIs(t, rt.Stop(ctx, "nope", runtime.StopOptions{}), runtime.ErrNotFound, "Stop of nothing")
}

func TestLogsFollow(t *testing.T) {
	rt, ctx := newRuntime(t)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo a; sleep 0.1; echo b >&2; echo c"}})
	require.NoError(t, err)
	var out, errb bytes.Buffer
	require.NoError(t, rt.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errb))
	assert.Equal(t, "a\nc\n", out.String(), "followed stdout")
	assert.Equal(t, "b\n", errb.String(), "followed stderr")
	got, _ := rt.InspectContainer(ctx, c.ID)
	assert.Equal(t, runtime.StateExited, got.State, "state after followed logs")
}

func TestListByLabel(t *testing.T) {
	rt, ctx := newRuntime(t)
	for i, v := range []string{"a", "b", "a"} {
		_, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Labels: map[string]string{"k": v, "i": strings.Repeat("x", i)}})
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		filter runtime.LabelFilter
		want   int
	}{{nil, 3}, {runtime.LabelFilter{"k": "a"}, 2}, {runtime.LabelFilter{"k": ""}, 3}, {runtime.LabelFilter{"k": "c"}, 0}, {runtime.LabelFilter{"z": ""}, 0}} {
		cs, err := rt.ListContainers(ctx, tc.filter)
		if assert.NoError(t, err, "ListContainers(%v)", tc.filter) {
			assert.Len(t, cs, tc.want, "ListContainers(%v)", tc.filter)
		}
	}
	imgs, err := rt.ListImages(ctx, runtime.LabelFilter{"base": "yes"})
	if assert.NoError(t, err, "ListImages by label") {
		assert.Len(t, imgs, 1, "ListImages by label")
	}
}

func TestClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rt, ctx := newRuntime(t, fake.WithClock(func() time.Time { return at }))
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	require.NoError(t, err)
	assert.True(t, c.Created.Equal(at), "Created = %v, want %v", c.Created, at)
	rt.Wait(ctx, c.ID)
	img, err := rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "x/y:1"})
	if assert.NoError(t, err, "Commit") {
		assert.True(t, img.Created.Equal(at), "image Created = %v, want %v", img.Created, at)
	}
}

func TestDeterministicIDs(t *testing.T) {
	ids := func() []string {
		rt, ctx := newRuntime(t)
		r := sh(t, ctx, rt, baseRef, "echo x > /f")
		img, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "x/y:1"})
		require.NoError(t, err)
		return []string{r.id, img.ID}
	}
	assert.Equal(t, ids(), ids(), "IDs of two identical runs")
}

func TestCapabilities(t *testing.T) {
	rt := fake.New(fake.WithCapabilities(runtime.CapSquash, runtime.CapLoad))
	info, err := rt.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []runtime.Capability{runtime.CapLoad}, info.Capabilities, "squash without commit must be dropped")
	_, err = rt.PullImage(context.Background(), "x:1")
	assert.ErrorIs(t, err, runtime.ErrNotImplemented, "PullImage without CapPull")
	full, err := fake.New().Info(context.Background())
	if assert.NoError(t, err) {
		assert.Equal(t, fake.AllCapabilities, full.Capabilities, "capabilities by default")
		assert.Len(t, full.Capabilities, 8, "capabilities by default")
		assert.Equal(t, "fake", full.Name)
		assert.Equal(t, runtime.ProtocolVersion, full.ProtocolVersion)
	}
}

func TestPull(t *testing.T) {
	tarball, err := testimage.Tar(testimage.Options{Ref: "other/name:9", Busybox: []byte("x")})
	require.NoError(t, err)
	rt := fake.New(fake.WithRegistry(map[string][]byte{"registry.example/app": tarball}))
	ctx := context.Background()
	img, err := rt.PullImage(ctx, "registry.example/app:latest")
	require.NoError(t, err)
	assert.Equal(t, []string{"registry.example/app:latest"}, img.Refs, "pulled image refs")
	_, err = rt.InspectImage(ctx, "registry.example/app")
	assert.NoError(t, err, "InspectImage without tag")
	_, err = rt.PullImage(ctx, "registry.example/nope")
	assert.ErrorIs(t, err, runtime.ErrNotFound, "pull of an unknown ref")
	_, err = rt.PullImage(ctx, "Bad Ref")
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "pull of a bad ref")
}
