package podman

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/secrets"
	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testLabel marks what these tests make, for their clean-up.
const testLabel = "io.berth.test.podman"

// fixture is a driver, a base image loaded through it and a raw bindings
// context, with clean-up of every container and image made.
type fixture struct {
	t    testing.TB
	d    *Driver
	ctx  context.Context
	raw  context.Context // the bindings' context, for checks independent of the driver
	base string
	id   string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	d := newDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	raw, err := d.client(ctx)
	require.NoError(t, err)
	f := &fixture{t: t, d: d, ctx: ctx, raw: raw, id: randomHex(6)}
	f.base = f.ref("base")
	tarball, err := testimage.Tar(testimage.Options{Ref: f.base})
	require.NoError(t, err)
	f.cleanupImage(f.base)
	require.NoError(t, second(d.LoadImage(ctx, bytes.NewReader(tarball))), "LoadImage")
	return f
}

func (f *fixture) ref(name string) string {
	return fmt.Sprintf("berth-test/podman-%s-%s:%s", name, f.id, randomHex(3))
}

func (f *fixture) cleanupImage(ref string) {
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := f.d.RemoveImage(ctx, ref)
		assert.False(f.t, err != nil && !errors.Is(err, runtime.ErrNotFound), "clean-up: RemoveImage(%s): %v", ref, err)
	})
}

func (f *fixture) spec(cmd ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{Image: f.base, Cmd: cmd, Labels: map[string]string{testLabel: f.id}}
}

// run runs s and removes the container at clean-up.
func (f *fixture) run(s runtime.ContainerSpec) runtime.Container {
	f.t.Helper()
	c, err := f.d.Run(f.ctx, s)
	require.NoError(f.t, err, "Run(%v)", s.Cmd)
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := f.d.Remove(ctx, c.ID)
		assert.False(f.t, err != nil && !errors.Is(err, runtime.ErrNotFound), "clean-up: Remove(%s): %v", c.ID, err)
	})
	return c
}

// runToEnd runs s, waits for it and returns its status and stdout.
func (f *fixture) runToEnd(s runtime.ContainerSpec) (runtime.Container, runtime.ExitStatus, string) {
	f.t.Helper()
	c := f.run(s)
	st, err := f.d.Wait(f.ctx, c.ID)
	require.NoError(f.t, err, "Wait")
	var out, errOut bytes.Buffer
	require.NoError(f.t, f.d.Logs(f.ctx, c.ID, runtime.LogOptions{}, &out, &errOut), "Logs")
	if errOut.Len() > 0 {
		f.t.Logf("stderr of %v: %s", s.Cmd, errOut.String())
	}
	return c, st, out.String()
}

// TestCommitLeavesSecretOut checks, with Podman's own inspect of the image
// and of the container (the bindings, not the driver's mapping), that no
// SecretEnv value or key reaches a committed image, and that the driver's
// secrets are gone once the container started.
func TestCommitLeavesSecretOut(t *testing.T) {
	f := newFixture(t)
	secret := "s3cr3t-value-" + f.id
	s := f.spec("sh", "-c", `test "$TOKEN" = "`+secret+`" && echo seen`)
	s.Env = []string{"PLAIN=visible"}
	s.SecretEnv = []string{"TOKEN=" + secret}
	c, st, out := f.runToEnd(s)
	require.False(t, st.ExitCode != 0 || out != "seen\n", "the job did not see the secret: exit %d, stdout %q", st.ExitCode, out)
	ref := f.ref("secret")
	f.cleanupImage(ref)
	img, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{Ref: ref})
	require.NoError(t, err, "Commit")

	rep, err := images.GetImage(f.raw, img.ID, nil)
	require.NoError(t, err, "bindings' GetImage")
	t.Logf("Podman's inspect of the committed image: Config.Env = %q", rep.Config.Env)
	assert.True(t, slices.Contains(rep.Config.Env, "PLAIN=visible"), "committed Env %q lacks PLAIN=visible", rep.Config.Env)
	for _, kv := range rep.Config.Env {
		assert.False(t, strings.Contains(kv, secret) || strings.HasPrefix(kv, "TOKEN="), "committed image config carries the secret env: %q", kv)
	}
	for k, v := range rep.Config.Labels {
		assert.False(t, strings.Contains(k+v, secret), "committed image label carries the secret: %s=%s", k, v)
	}
	for _, h := range rep.History {
		assert.False(t, strings.Contains(h.CreatedBy+h.Comment, secret), "committed image history carries the secret: %+v", h)
	}

	// The container itself shows the value while it exists: Podman's
	// inspect reads the OCI spec generated at start.
	data, err := containers.Inspect(f.raw, c.ID, nil)
	require.NoError(t, err, "bindings' container Inspect")
	t.Logf("Podman's inspect of the container: Config.Env = %q", data.Config.Env)
	list, err := secrets.List(f.raw, nil)
	require.NoError(t, err, "secrets.List")
	for _, s := range list {
		assert.False(t, strings.HasPrefix(s.Spec.Name, "berth-env-"), "secret %s left after the container started", s.Spec.Name)
	}
}

// TestCommitConfig checks the committed config with Podman's own inspect:
// the init the driver runs the job under is not part of it, and labels,
// Cmd, WorkingDir and Env changes are.
func TestCommitConfig(t *testing.T) {
	f := newFixture(t)
	c, st, _ := f.runToEnd(f.spec("sh", "-c", "mkdir -p /work/x"))
	require.Equal(t, 0, st.ExitCode, "exit code %d", st.ExitCode)
	ref := f.ref("config")
	f.cleanupImage(ref)
	img, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{
		Ref:    ref,
		Labels: map[string]string{"io.berth.test.spaced": `a b = "c"`},
		Changes: runtime.ConfigChanges{
			Env:        []string{"WITH_SPACE= x y ", "EQ=a=b"},
			Cmd:        []string{"sh", "-c", `echo "it's"`},
			WorkingDir: "/work/x",
		},
	})
	require.NoError(t, err, "Commit")
	rep, err := images.GetImage(f.raw, img.ID, nil)
	require.NoError(t, err, "bindings' GetImage")
	cfg := rep.Config
	assert.Empty(t, cfg.Entrypoint, "committed Entrypoint (the init must not leak into the image)")
	assert.Equal(t, []string{"sh", "-c", `echo "it's"`}, cfg.Cmd, "committed Cmd")
	assert.Equal(t, "/work/x", cfg.WorkingDir, "committed WorkingDir = %q", cfg.WorkingDir)
	for _, want := range []string{"WITH_SPACE= x y ", "EQ=a=b"} {
		assert.True(t, slices.Contains(cfg.Env, want), "committed Env %q lacks %q", cfg.Env, want)
	}
	assert.Equal(t, `a b = "c"`, cfg.Labels["io.berth.test.spaced"], "committed label")
	assert.Equal(t, f.id, cfg.Labels[testLabel], "committed image lacks the container's label: %v", cfg.Labels)
}

// TestCommitRunning checks that a running container is refused.
func TestCommitRunning(t *testing.T) {
	f := newFixture(t)
	c := f.run(f.spec("sleep", "30"))
	ref := f.ref("running")
	f.cleanupImage(ref)
	_, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{Ref: ref})
	assert.ErrorIs(t, err, runtime.ErrFailedPrecondition, "Commit of a running container")
}

// TestLimits checks that the limits reach the container's cgroup.
func TestLimits(t *testing.T) {
	f := newFixture(t)
	s := f.spec("sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max")
	s.MemoryBytes = 64 << 20
	s.NanoCPUs = 500_000_000
	_, st, out := f.runToEnd(s)
	require.Equal(t, 0, st.ExitCode, "exit code %d, stdout %q", st.ExitCode, out)
	v1 := fmt.Sprintf("%d\n50000\n100000\n", 64<<20)
	v2 := fmt.Sprintf("%d\n50000 100000\n", 64<<20)
	assert.False(t, out != v1 && out != v2, "cgroup limits seen by the job = %q, want %q (v1) or %q (v2)", out, v1, v2)
}

// TestRunMissingImage checks the class of a missing image and that
// nothing is left behind.
func TestRunMissingImage(t *testing.T) {
	f := newFixture(t)
	s := f.spec("true")
	s.Image = "berth-test/podman-missing-" + f.id + ":none"
	_, err := f.d.Run(f.ctx, s)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "Run of a missing image")
	left, err := f.d.ListContainers(f.ctx, runtime.LabelFilter{testLabel: f.id})
	assert.False(t, err != nil || len(left) != 0, "containers left: %v (%v)", left, err)
}

// TestWaitCancelled checks that Wait returns at once on cancellation and
// leaves the container running.
func TestWaitCancelled(t *testing.T) {
	f := newFixture(t)
	c := f.run(f.spec("sleep", "30"))
	ctx, cancel := context.WithCancel(f.ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := f.d.Wait(ctx, c.ID)
		errc <- err
	}()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled, "Wait after cancel")
	got, err := f.d.InspectContainer(f.ctx, c.ID)
	assert.False(t, err != nil || got.State != runtime.StateRunning, "container after a cancelled Wait: %+v, %v; want running", got, err)
}

// TestInfo checks the engine version against the service's own answer.
func TestInfo(t *testing.T) {
	f := newFixture(t)
	info, err := f.d.Info(f.ctx)
	require.NoError(t, err)
	rep, err := system.Version(f.raw, nil)
	require.NoError(t, err)
	assert.False(t, info.EngineVersion == "" || info.EngineVersion != rep.Server.Version, "EngineVersion = %q, service says %q", info.EngineVersion, rep.Server.Version)
}

// TestUnreachable checks a driver of a socket where no service listens:
// Info answers, every engine call fails with ErrUnavailable naming the
// socket, in process and over the wire.
func TestUnreachable(t *testing.T) {
	const addr = "unix:///nonexistent/berth-test/podman.sock"
	for name, rt := range map[string]runtime.Runtime{
		"in-process": New(Options{Address: addr}),
		"wire":       openWire(t, map[string]string{"address": addr}),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			info, err := rt.Info(ctx)
			assert.False(t, err != nil || info.Name != Name || info.EngineVersion != "", "Info = %+v, %v; want the driver's info without engine version", info, err)
			_, runErr := rt.Run(ctx, runtime.ContainerSpec{Image: "x", Cmd: []string{"true"}})
			_, inspectErr := rt.InspectImage(ctx, "x")
			_, listErr := rt.ListContainers(ctx, nil)
			for op, err := range map[string]error{"Ping": rt.Ping(ctx), "Run": runErr, "InspectImage": inspectErr, "ListContainers": listErr} {
				if assert.ErrorIs(t, err, runtime.ErrUnavailable, op) {
					assert.Contains(t, err.Error(), "/nonexistent/berth-test/podman.sock", "%s: the error does not name the socket", op)
				}
			}
		})
	}
}

// TestMemoryLimitCoversSwap checks, from inside the container, that
// MemoryBytes caps memory and swap together at the value.
func TestMemoryLimitCoversSwap(t *testing.T) {
	f := newFixture(t)
	const limit = 64 << 20
	s := f.spec("sh", "-c", drivertest.MemoryScript)
	s.MemoryBytes = limit
	_, st, out := f.runToEnd(s)
	require.Equal(t, 0, st.ExitCode, "exit code %d, stdout %q", st.ExitCode, out)
	drivertest.CheckMemoryLimits(t, out, limit)
}

// TestLongLabels runs a container and commits an image with a
// 5,000-character label value (a long work item): inspect and list return
// it exactly, and a filter matches it exactly.
func TestLongLabels(t *testing.T) {
	f := newFixture(t)
	const key, imgKey = "io.berth.test.long", "io.berth.test.long-image"
	long := func() string { return f.id + "-" + randomHex(4) + "-" + strings.Repeat("w", 5000-len(f.id)-10) }
	value, other := long(), long()
	s := f.spec("true")
	s.Labels[key] = value
	c, st, _ := f.runToEnd(s)
	require.Equal(t, 0, st.ExitCode, "exit code %d", st.ExitCode)
	got, err := f.d.InspectContainer(f.ctx, c.ID)
	require.False(t, err != nil || got.Labels[key] != value, "inspect container: label of %d characters, %v; want the %d given", len(got.Labels[key]), err, len(value))
	containerIDs := func(filter runtime.LabelFilter) []string {
		cs, err := f.d.ListContainers(f.ctx, filter)
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
		ref := f.ref("long")
		f.cleanupImage(ref)
		img, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{Ref: ref, Squash: squash, Labels: map[string]string{imgKey: other}})
		require.NoError(t, err, "squash=%v: commit", squash)
		assert.False(t, img.Labels[key] != value || img.Labels[imgKey] != other, "squash=%v: commit: labels of %d and %d characters, want 5000", squash, len(img.Labels[key]), len(img.Labels[imgKey]))
		imgs, err := f.d.ListImages(f.ctx, runtime.LabelFilter{imgKey: other, key: value})
		assert.False(t, err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Labels[imgKey] != other, "squash=%v: list images by the long values: %d images, %v; want %s", squash, len(imgs), err, img.ID)
		imgs, err = f.d.ListImages(f.ctx, runtime.LabelFilter{imgKey: other[:len(other)-1] + "x"})
		assert.False(t, err != nil || len(imgs) != 0, "squash=%v: list images by another long value: %d images, %v; want none", squash, len(imgs), err)
		other = long()
	}
}
