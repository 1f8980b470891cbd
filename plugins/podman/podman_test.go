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
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, d: d, ctx: ctx, raw: raw, id: randomHex(6)}
	f.base = f.ref("base")
	tarball, err := testimage.Tar(testimage.Options{Ref: f.base})
	if err != nil {
		t.Fatal(err)
	}
	f.cleanupImage(f.base)
	if _, err := d.LoadImage(ctx, bytes.NewReader(tarball)); err != nil {
		t.Fatalf("LoadImage: %v", err)
	}
	return f
}

func (f *fixture) ref(name string) string {
	return fmt.Sprintf("berth-test/podman-%s-%s:%s", name, f.id, randomHex(3))
}

func (f *fixture) cleanupImage(ref string) {
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.d.RemoveImage(ctx, ref); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			f.t.Errorf("clean-up: RemoveImage(%s): %v", ref, err)
		}
	})
}

func (f *fixture) spec(cmd ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{Image: f.base, Cmd: cmd, Labels: map[string]string{testLabel: f.id}}
}

// run runs s and removes the container at clean-up.
func (f *fixture) run(s runtime.ContainerSpec) runtime.Container {
	f.t.Helper()
	c, err := f.d.Run(f.ctx, s)
	if err != nil {
		f.t.Fatalf("Run(%v): %v", s.Cmd, err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.d.Remove(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			f.t.Errorf("clean-up: Remove(%s): %v", c.ID, err)
		}
	})
	return c
}

// runToEnd runs s, waits for it and returns its status and stdout.
func (f *fixture) runToEnd(s runtime.ContainerSpec) (runtime.Container, runtime.ExitStatus, string) {
	f.t.Helper()
	c := f.run(s)
	st, err := f.d.Wait(f.ctx, c.ID)
	if err != nil {
		f.t.Fatalf("Wait: %v", err)
	}
	var out, errOut bytes.Buffer
	if err := f.d.Logs(f.ctx, c.ID, runtime.LogOptions{}, &out, &errOut); err != nil {
		f.t.Fatalf("Logs: %v", err)
	}
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
	if st.ExitCode != 0 || out != "seen\n" {
		t.Fatalf("the job did not see the secret: exit %d, stdout %q", st.ExitCode, out)
	}
	ref := f.ref("secret")
	f.cleanupImage(ref)
	img, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{Ref: ref})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}

	rep, err := images.GetImage(f.raw, img.ID, nil)
	if err != nil {
		t.Fatalf("bindings' GetImage: %v", err)
	}
	t.Logf("Podman's inspect of the committed image: Config.Env = %q", rep.Config.Env)
	if !slices.Contains(rep.Config.Env, "PLAIN=visible") {
		t.Errorf("committed Env %q lacks PLAIN=visible", rep.Config.Env)
	}
	for _, kv := range rep.Config.Env {
		if strings.Contains(kv, secret) || strings.HasPrefix(kv, "TOKEN=") {
			t.Errorf("committed image config carries the secret env: %q", kv)
		}
	}
	for k, v := range rep.Config.Labels {
		if strings.Contains(k+v, secret) {
			t.Errorf("committed image label carries the secret: %s=%s", k, v)
		}
	}
	for _, h := range rep.History {
		if strings.Contains(h.CreatedBy+h.Comment, secret) {
			t.Errorf("committed image history carries the secret: %+v", h)
		}
	}

	// The container itself shows the value while it exists: Podman's
	// inspect reads the OCI spec generated at start.
	data, err := containers.Inspect(f.raw, c.ID, nil)
	if err != nil {
		t.Fatalf("bindings' container Inspect: %v", err)
	}
	t.Logf("Podman's inspect of the container: Config.Env = %q", data.Config.Env)
	list, err := secrets.List(f.raw, nil)
	if err != nil {
		t.Fatalf("secrets.List: %v", err)
	}
	for _, s := range list {
		if strings.HasPrefix(s.Spec.Name, "berth-env-") {
			t.Errorf("secret %s left after the container started", s.Spec.Name)
		}
	}
}

// TestCommitConfig checks the committed config with Podman's own inspect:
// the init the driver runs the job under is not part of it, and labels,
// Cmd, WorkingDir and Env changes are.
func TestCommitConfig(t *testing.T) {
	f := newFixture(t)
	c, st, _ := f.runToEnd(f.spec("sh", "-c", "mkdir -p /work/x"))
	if st.ExitCode != 0 {
		t.Fatalf("exit code %d", st.ExitCode)
	}
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
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	rep, err := images.GetImage(f.raw, img.ID, nil)
	if err != nil {
		t.Fatalf("bindings' GetImage: %v", err)
	}
	cfg := rep.Config
	if len(cfg.Entrypoint) != 0 {
		t.Errorf("committed Entrypoint = %q, want none (the init must not leak into the image)", cfg.Entrypoint)
	}
	if want := []string{"sh", "-c", `echo "it's"`}; !slices.Equal(cfg.Cmd, want) {
		t.Errorf("committed Cmd = %q, want %q", cfg.Cmd, want)
	}
	if cfg.WorkingDir != "/work/x" {
		t.Errorf("committed WorkingDir = %q", cfg.WorkingDir)
	}
	for _, want := range []string{"WITH_SPACE= x y ", "EQ=a=b"} {
		if !slices.Contains(cfg.Env, want) {
			t.Errorf("committed Env %q lacks %q", cfg.Env, want)
		}
	}
	if got := cfg.Labels["io.berth.test.spaced"]; got != `a b = "c"` {
		t.Errorf("committed label = %q", got)
	}
	if got := cfg.Labels[testLabel]; got != f.id {
		t.Errorf("committed image lacks the container's label: %v", cfg.Labels)
	}
}

// TestCommitRunning checks that a running container is refused.
func TestCommitRunning(t *testing.T) {
	f := newFixture(t)
	c := f.run(f.spec("sleep", "30"))
	ref := f.ref("running")
	f.cleanupImage(ref)
	_, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{Ref: ref})
	if !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("Commit of a running container: %v, want ErrFailedPrecondition", err)
	}
}

// TestLimits checks that the limits reach the container's cgroup.
func TestLimits(t *testing.T) {
	f := newFixture(t)
	s := f.spec("sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max")
	s.MemoryBytes = 64 << 20
	s.NanoCPUs = 500_000_000
	_, st, out := f.runToEnd(s)
	if st.ExitCode != 0 {
		t.Fatalf("exit code %d, stdout %q", st.ExitCode, out)
	}
	v1 := fmt.Sprintf("%d\n50000\n100000\n", 64<<20)
	v2 := fmt.Sprintf("%d\n50000 100000\n", 64<<20)
	if out != v1 && out != v2 {
		t.Errorf("cgroup limits seen by the job = %q, want %q (v1) or %q (v2)", out, v1, v2)
	}
}

// TestRunMissingImage checks the class of a missing image and that
// nothing is left behind.
func TestRunMissingImage(t *testing.T) {
	f := newFixture(t)
	s := f.spec("true")
	s.Image = "berth-test/podman-missing-" + f.id + ":none"
	_, err := f.d.Run(f.ctx, s)
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Run of a missing image: %v, want ErrNotFound", err)
	}
	left, err := f.d.ListContainers(f.ctx, runtime.LabelFilter{testLabel: f.id})
	if err != nil || len(left) != 0 {
		t.Errorf("containers left: %v (%v)", left, err)
	}
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
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after cancel: %v, want context.Canceled", err)
	}
	got, err := f.d.InspectContainer(f.ctx, c.ID)
	if err != nil || got.State != runtime.StateRunning {
		t.Errorf("container after a cancelled Wait: %+v, %v; want running", got, err)
	}
}

// TestInfo checks the engine version against the service's own answer.
func TestInfo(t *testing.T) {
	f := newFixture(t)
	info, err := f.d.Info(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := system.Version(f.raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.EngineVersion == "" || info.EngineVersion != rep.Server.Version {
		t.Errorf("EngineVersion = %q, service says %q", info.EngineVersion, rep.Server.Version)
	}
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
			if err != nil || info.Name != Name || info.EngineVersion != "" {
				t.Errorf("Info = %+v, %v; want the driver's info without engine version", info, err)
			}
			_, runErr := rt.Run(ctx, runtime.ContainerSpec{Image: "x", Cmd: []string{"true"}})
			_, inspectErr := rt.InspectImage(ctx, "x")
			_, listErr := rt.ListContainers(ctx, nil)
			for op, err := range map[string]error{"Ping": rt.Ping(ctx), "Run": runErr, "InspectImage": inspectErr, "ListContainers": listErr} {
				if !errors.Is(err, runtime.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", op, err)
				} else if !strings.Contains(err.Error(), "/nonexistent/berth-test/podman.sock") {
					t.Errorf("%s: %q does not name the socket", op, err)
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
	if st.ExitCode != 0 {
		t.Fatalf("exit code %d, stdout %q", st.ExitCode, out)
	}
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
	if st.ExitCode != 0 {
		t.Fatalf("exit code %d", st.ExitCode)
	}
	got, err := f.d.InspectContainer(f.ctx, c.ID)
	if err != nil || got.Labels[key] != value {
		t.Fatalf("inspect container: label of %d characters, %v; want the %d given", len(got.Labels[key]), err, len(value))
	}
	containerIDs := func(filter runtime.LabelFilter) []string {
		cs, err := f.d.ListContainers(f.ctx, filter)
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
		ref := f.ref("long")
		f.cleanupImage(ref)
		img, err := f.d.Commit(f.ctx, c.ID, runtime.CommitOptions{Ref: ref, Squash: squash, Labels: map[string]string{imgKey: other}})
		if err != nil {
			t.Fatalf("squash=%v: commit: %v", squash, err)
		}
		if img.Labels[key] != value || img.Labels[imgKey] != other {
			t.Errorf("squash=%v: commit: labels of %d and %d characters, want 5000", squash, len(img.Labels[key]), len(img.Labels[imgKey]))
		}
		imgs, err := f.d.ListImages(f.ctx, runtime.LabelFilter{imgKey: other, key: value})
		if err != nil || len(imgs) != 1 || imgs[0].ID != img.ID || imgs[0].Labels[imgKey] != other {
			t.Errorf("squash=%v: list images by the long values: %d images, %v; want %s", squash, len(imgs), err, img.ID)
		}
		if imgs, err := f.d.ListImages(f.ctx, runtime.LabelFilter{imgKey: other[:len(other)-1] + "x"}); err != nil || len(imgs) != 0 {
			t.Errorf("squash=%v: list images by another long value: %d images, %v; want none", squash, len(imgs), err)
		}
		other = long()
	}
}
