package fake_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
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
	if len(imgs) != 1 {
		t.Fatalf("LoadImage returned %d images, want 1", len(imgs))
	}
	img := imgs[0]
	if !strings.HasPrefix(img.ID, "sha256:") || !slices.Equal(img.Refs, []string{"x/base:1"}) ||
		img.Layers != 1 || img.Labels["k"] != "v" || img.Size == 0 || img.Created.IsZero() {
		t.Errorf("loaded image = %+v", img)
	}
	again := loadBase(t, ctx, rt, testimage.Options{Ref: "x/base:1", Labels: map[string]string{"k": "v"}})
	if again[0].ID != img.ID {
		t.Errorf("same archive loaded twice: IDs %s and %s", img.ID, again[0].ID)
	}
	r := sh(t, ctx, rt, "x/base:1", `test -d /tmp && test -d /work && cat /etc/passwd && test -f /bin/sh && echo "$PATH"`)
	if r.status.ExitCode != 0 || r.stdout != "root:x:0:0:root:/root:/bin/sh\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" {
		t.Errorf("run on the loaded image: %+v", r)
	}
}

func TestLoadBadArchive(t *testing.T) {
	rt := fake.New()
	for _, in := range [][]byte{[]byte("not a tar"), {}} {
		_, err := rt.LoadImage(context.Background(), bytes.NewReader(in))
		if !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("LoadImage(%q): %v, want ErrInvalidArgument", in, err)
		}
	}
	imgs, _ := rt.ListImages(context.Background(), nil)
	if len(imgs) != 0 {
		t.Errorf("a failed load left images: %v", imgs)
	}
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
		if _, err := rt.Run(ctx, tc.spec); !errors.Is(err, tc.want) {
			t.Errorf("Run(%+v): %v, want %v", tc.spec, err, tc.want)
		}
	}
	if _, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Name: "one"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Name: "one"}); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Errorf("Run with a taken name: %v, want ErrAlreadyExists", err)
	}
	cs, _ := rt.ListContainers(ctx, nil)
	if len(cs) != 1 {
		t.Errorf("refused runs left containers: %d, want 1", len(cs))
	}
	if _, err := rt.Wait(ctx, "one"); err != nil {
		t.Errorf("Wait by name: %v", err)
	}
}

func TestRunEnvironment(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := runSpec(t, ctx, rt, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", `echo "$A $S $HOSTNAME"; pwd`},
		Env: []string{"A=1"}, SecretEnv: []string{"S=secret"}, WorkingDir: "/new/dir",
	})
	if want := "1 secret " + r.id[:12] + "\n/new/dir\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	r = runSpec(t, ctx, rt, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"echo", "direct", "$A"}})
	if r.stdout != "direct $A\n" {
		t.Errorf("argv command: stdout %q", r.stdout)
	}
	r = runSpec(t, ctx, rt, runtime.ContainerSpec{Image: baseRef})
	if r.status.ExitCode != 0 {
		t.Errorf("image command (sh with no input): %+v", r)
	}
}

func TestOOM(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := runSpec(t, ctx, rt, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", "head -c 1000 /dev/zero > /tmp/a; echo small; head -c 2000 /dev/zero > /tmp/b; echo big"},
		MemoryBytes: 1500,
	})
	if r.status.ExitCode != 137 || !r.status.OOMKilled || r.stdout != "small\n" {
		t.Errorf("over the memory limit: %+v, want 137, OOMKilled, stdout %q", r, "small\n")
	}
	rt2 := fake.New(fake.WithCapabilities(runtime.CapLoad, runtime.CapCommit))
	_, err := rt2.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, MemoryBytes: 1 << 20})
	if !errors.Is(err, runtime.ErrNotImplemented) {
		t.Errorf("limits without CapLimits: %v, want ErrNotImplemented", err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		waitOutput(t, ctx, rt, c.ID, "ready")
		if err := rt.Stop(ctx, c.ID, tc.opts); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		got, err := rt.InspectContainer(ctx, c.ID)
		if err != nil || got.State != runtime.StateExited {
			t.Errorf("%q: after Stop: %+v, %v", tc.script, got, err)
		}
		if st, _ := rt.Wait(ctx, c.ID); st.ExitCode != tc.want {
			t.Errorf("%q stopped with %+v: exit %d, want %d", tc.script, tc.opts, st.ExitCode, tc.want)
		}
	}
	c, _ := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	if err := rt.Stop(ctx, c.ID, runtime.StopOptions{Signal: "SIGNOPE"}); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("Stop with a bad signal: %v", err)
	}
	if err := rt.Stop(ctx, "nope", runtime.StopOptions{}); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Stop of nothing: %v", err)
	}
}

func TestLogsFollow(t *testing.T) {
	rt, ctx := newRuntime(t)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sh", "-c", "echo a; sleep 0.1; echo b >&2; echo c"}})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := rt.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\nc\n" || errb.String() != "b\n" {
		t.Errorf("followed logs %q, %q", out.String(), errb.String())
	}
	if got, _ := rt.InspectContainer(ctx, c.ID); got.State != runtime.StateExited {
		t.Errorf("state after followed logs: %s", got.State)
	}
}

func TestListByLabel(t *testing.T) {
	rt, ctx := newRuntime(t)
	for i, v := range []string{"a", "b", "a"} {
		_, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}, Labels: map[string]string{"k": v, "i": strings.Repeat("x", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		filter runtime.LabelFilter
		want   int
	}{{nil, 3}, {runtime.LabelFilter{"k": "a"}, 2}, {runtime.LabelFilter{"k": ""}, 3}, {runtime.LabelFilter{"k": "c"}, 0}, {runtime.LabelFilter{"z": ""}, 0}} {
		cs, err := rt.ListContainers(ctx, tc.filter)
		if err != nil || len(cs) != tc.want {
			t.Errorf("ListContainers(%v) = %d containers, %v; want %d", tc.filter, len(cs), err, tc.want)
		}
	}
	imgs, err := rt.ListImages(ctx, runtime.LabelFilter{"base": "yes"})
	if err != nil || len(imgs) != 1 {
		t.Errorf("ListImages by label: %v, %v", imgs, err)
	}
}

func TestClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rt, ctx := newRuntime(t, fake.WithClock(func() time.Time { return at }))
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Created.Equal(at) {
		t.Errorf("Created = %v, want %v", c.Created, at)
	}
	rt.Wait(ctx, c.ID)
	img, err := rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "x/y:1"})
	if err != nil || !img.Created.Equal(at) {
		t.Errorf("Commit: %+v, %v; want Created %v", img, err, at)
	}
}

func TestDeterministicIDs(t *testing.T) {
	ids := func() []string {
		rt, ctx := newRuntime(t)
		r := sh(t, ctx, rt, baseRef, "echo x > /f")
		img, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "x/y:1"})
		if err != nil {
			t.Fatal(err)
		}
		return []string{r.id, img.ID}
	}
	if a, b := ids(), ids(); !slices.Equal(a, b) {
		t.Errorf("two identical runs made IDs %v and %v", a, b)
	}
}

func TestCapabilities(t *testing.T) {
	rt := fake.New(fake.WithCapabilities(runtime.CapSquash, runtime.CapLoad))
	info, err := rt.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Capabilities, []runtime.Capability{runtime.CapLoad}) {
		t.Errorf("capabilities %v: squash without commit must be dropped", info.Capabilities)
	}
	if _, err := rt.PullImage(context.Background(), "x:1"); !errors.Is(err, runtime.ErrNotImplemented) {
		t.Errorf("PullImage without CapPull: %v", err)
	}
	full, err := fake.New().Info(context.Background())
	if err != nil || len(full.Capabilities) != 5 || full.Name != "fake" || full.ProtocolVersion != runtime.ProtocolVersion {
		t.Errorf("Info = %+v, %v", full, err)
	}
}

func TestPull(t *testing.T) {
	tarball, err := testimage.Tar(testimage.Options{Ref: "other/name:9", Busybox: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	rt := fake.New(fake.WithRegistry(map[string][]byte{"registry.example/app": tarball}))
	ctx := context.Background()
	img, err := rt.PullImage(ctx, "registry.example/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Refs, []string{"registry.example/app:latest"}) {
		t.Errorf("pulled image refs %v", img.Refs)
	}
	if _, err := rt.InspectImage(ctx, "registry.example/app"); err != nil {
		t.Errorf("InspectImage without tag: %v", err)
	}
	if _, err := rt.PullImage(ctx, "registry.example/nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("pull of an unknown ref: %v", err)
	}
	if _, err := rt.PullImage(ctx, "Bad Ref"); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("pull of a bad ref: %v", err)
	}
}
