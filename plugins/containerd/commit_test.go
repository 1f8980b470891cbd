package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// nsContext returns a context on the driver's namespace, for direct reads.
func nsContext(d *Driver) context.Context {
	return namespaces.WithNamespace(context.Background(), d.Namespace())
}

// storedImage reads the image ref's manifest and config, and their content
// labels, straight from containerd's content store.
func storedImage(t *testing.T, d *Driver, ref string) (manifest, config []byte, mLabels, cLabels map[string]string) {
	t.Helper()
	ctx := nsContext(d)
	name, err := normalizeRef(ref)
	require.NoError(t, err)
	img, err := d.Client().ImageService().Get(ctx, name)
	require.NoError(t, err, "image record %s", name)
	cs := d.Client().ContentStore()
	manifest, err = content.ReadBlob(ctx, cs, img.Target)
	require.NoError(t, err, "manifest")
	var m ocispec.Manifest
	require.NoError(t, json.Unmarshal(manifest, &m))
	config, err = content.ReadBlob(ctx, cs, m.Config)
	require.NoError(t, err, "config")
	mi, err := cs.Info(ctx, img.Target.Digest)
	require.NoError(t, err)
	ci, err := cs.Info(ctx, m.Config.Digest)
	require.NoError(t, err)
	return manifest, config, mi.Labels, ci.Labels
}

// TestCommitKeepsSecretsOut checks the committed config and manifest as
// stored: no secret value or key, and the gc labels that keep the image's
// content and snapshot.
func TestCommitKeepsSecretsOut(t *testing.T) {
	d := newDriver(t)
	base := loadBase(t, d)
	secret := "hunter2-" + randomHex(4)
	c := runDone(t, d, runtime.ContainerSpec{
		Image:     base,
		Cmd:       []string{"sh", "-c", `env > /work/env-seen; echo data > /work/out`},
		Env:       []string{"PLAIN=1"},
		SecretEnv: []string{"API_TOKEN=" + secret, "PATH=/secret/bin:/bin"},
	})
	ref := "berth-test/secret-" + randomHex(4) + ":g1"
	t.Cleanup(func() { removeImage(t, d, ref) })
	img, err := d.Commit(context.Background(), c.ID, runtime.CommitOptions{Ref: ref})
	require.NoError(t, err, "Commit")
	manifest, config, mLabels, cLabels := storedImage(t, d, ref)
	for what, b := range map[string][]byte{"config": config, "manifest": manifest} {
		assert.False(t, bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("API_TOKEN")) || bytes.Contains(b, []byte("/secret/bin")), "stored %s carries the secret:\n%s", what, b)
	}
	var cfg ocispec.Image
	require.NoError(t, json.Unmarshal(config, &cfg))
	// PATH was a secret override of an image variable: the image's value
	// comes back.
	wantEnv := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PLAIN=1"}
	assert.Equal(t, fmt.Sprint(wantEnv), fmt.Sprint(cfg.Config.Env), "committed Env = %q, want %q", cfg.Config.Env, wantEnv)
	assert.Equal(t, fmt.Sprint(wantEnv), fmt.Sprint(img.Env), "Commit returned Env %q, want %q", img.Env, wantEnv)
	var m ocispec.Manifest
	require.NoError(t, json.Unmarshal(manifest, &m))
	assert.False(t, len(m.Layers) != 2 || len(cfg.RootFS.DiffIDs) != 2 || len(cfg.History) != 2, "layers %d, diff IDs %d, history %d; want 2 each", len(m.Layers), len(cfg.RootFS.DiffIDs), len(cfg.History))
	assert.Equal(t, m.Config.Digest.String(), mLabels["containerd.io/gc.ref.content.config"], "manifest labels %v lack the config reference", mLabels)
	for i, l := range m.Layers {
		got := mLabels[fmt.Sprintf("containerd.io/gc.ref.content.l.%d", i)]
		assert.Equal(t, l.Digest.String(), got, "manifest label for layer %d = %q, want %s", i, got, l.Digest)
	}
	assert.False(t, cLabels["containerd.io/gc.ref.snapshot."+DefaultSnapshotter] == "", "config labels %v lack the snapshot reference", cLabels)
	assert.False(t, img.Size <= 0 || img.Layers != 2, "Commit returned Size %d Layers %d", img.Size, img.Layers)
}

// TestCommitStacks commits three generations on top of each other: each
// adds exactly one layer and the last sees every generation's files.
func TestCommitStacks(t *testing.T) {
	d := newDriver(t)
	from := loadBase(t, d)
	baseImg, err := d.InspectImage(context.Background(), from)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		c := runDone(t, d, runtime.ContainerSpec{Image: from, Cmd: []string{"sh", "-c", fmt.Sprintf("echo %d > /work/g%d", i, i)}})
		ref := fmt.Sprintf("berth-test/stack-%s:g%d", randomHex(4), i)
		t.Cleanup(func() { removeImage(t, d, ref) })
		img, err := d.Commit(context.Background(), c.ID, runtime.CommitOptions{Ref: ref})
		require.NoError(t, err, "Commit %d", i)
		assert.Equal(t, baseImg.Layers+i, img.Layers, "generation %d: Layers %d, want %d", i, img.Layers, baseImg.Layers+i)
		_, config, _, _ := storedImage(t, d, ref)
		var cfg ocispec.Image
		require.NoError(t, json.Unmarshal(config, &cfg))
		assert.False(t, len(cfg.RootFS.DiffIDs) != baseImg.Layers+i || len(cfg.History) != baseImg.Layers+i, "generation %d: %d diff IDs, %d history entries; want %d", i, len(cfg.RootFS.DiffIDs), len(cfg.History), baseImg.Layers+i)
		from = ref
	}
	var out bytes.Buffer
	c := runDone(t, d, runtime.ContainerSpec{Image: from, Cmd: []string{"cat", "/work/g1", "/work/g2", "/work/g3"}})
	require.NoError(t, d.Logs(context.Background(), c.ID, runtime.LogOptions{Follow: true}, &out, nil))
	assert.Equal(t, "1\n2\n3\n", out.String(), "third generation sees %q, want %q", out.String(), "1\n2\n3\n")
}

// TestCommitRunning checks that a running container is refused and nothing
// is written.
func TestCommitRunning(t *testing.T) {
	d := newDriver(t)
	base := loadBase(t, d)
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"sleep", "30"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Remove(ctx, c.ID) })
	ref := "berth-test/running-" + randomHex(4) + ":x"
	_, err = d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
	require.ErrorIs(t, err, runtime.ErrFailedPrecondition, "Commit of a running container")
	assert.ErrorIs(t, second(d.InspectImage(ctx, ref)), runtime.ErrNotFound, "image after a refused commit")
	assert.ErrorIs(t, second(d.Commit(ctx, "no-such-container", runtime.CommitOptions{Ref: ref})), runtime.ErrNotFound, "Commit of a missing container")
	assert.ErrorIs(t, second(d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "Bad Ref!"})), runtime.ErrInvalidArgument, "Commit with a bad ref")
}

// TestCommitGzip commits with gzip layers and runs the result.
func TestCommitGzip(t *testing.T) {
	daemon.Need(t)
	d, err := New(Options{Namespace: testNamespace, LayerCompression: "gzip"})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	base := loadBase(t, d)
	c := runDone(t, d, runtime.ContainerSpec{Image: base, Cmd: []string{"sh", "-c", "echo zipped > /work/z"}})
	ref := "berth-test/gzip-" + randomHex(4) + ":1"
	t.Cleanup(func() { removeImage(t, d, ref) })
	require.NoError(t, second(d.Commit(context.Background(), c.ID, runtime.CommitOptions{Ref: ref})), "Commit")
	manifest, config, _, _ := storedImage(t, d, ref)
	var m ocispec.Manifest
	var cfg ocispec.Image
	require.NoError(t, json.Unmarshal(manifest, &m))
	require.NoError(t, json.Unmarshal(config, &cfg))
	top := m.Layers[len(m.Layers)-1]
	assert.Equal(t, images.MediaTypeDockerSchema2LayerGzip, top.MediaType, "top layer media type %s, want gzip", top.MediaType)
	assert.False(t, cfg.RootFS.DiffIDs[len(cfg.RootFS.DiffIDs)-1] == top.Digest || digest.Digest("") == cfg.RootFS.DiffIDs[len(cfg.RootFS.DiffIDs)-1], "diff ID of a gzip layer equals its digest or is empty")
	var out bytes.Buffer
	c2 := runDone(t, d, runtime.ContainerSpec{Image: ref, Cmd: []string{"cat", "/work/z"}})
	require.NoError(t, d.Logs(context.Background(), c2.ID, runtime.LogOptions{Follow: true}, &out, nil))
	assert.Equal(t, "zipped\n", out.String(), "gzip image sees %q", out.String())
}

// TestNothingLeftBehind runs, commits (plain, squashed, refused), reruns
// and removes everything in a namespace of its own, then checks that the
// namespace holds no container, image, snapshot, lease or content.
func TestNothingLeftBehind(t *testing.T) {
	daemon.Need(t)
	ns := "berth-test-empty-" + randomHex(4)
	d, err := New(Options{Namespace: ns})
	require.NoError(t, err)
	defer d.Close()
	ctx := context.Background()
	func() {
		sub := &cleanups{}
		defer sub.run()
		base := loadBaseInto(t, d, sub)
		c := runInto(t, d, sub, runtime.ContainerSpec{Image: base, Cmd: []string{"sh", "-c", "echo x > /work/x"}})
		for _, squash := range []bool{false, true} {
			ref := fmt.Sprintf("berth-test/left-%v:1", squash)
			require.NoError(t, second(d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref, Squash: squash})), "Commit")
			sub.add(func() { removeImage(t, d, ref) })
			runInto(t, d, sub, runtime.ContainerSpec{Image: ref, Cmd: []string{"cat", "/work/x"}})
		}
		assert.ErrorIs(t, second(d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "bad ref!"})), runtime.ErrInvalidArgument, "Commit with a bad ref")
		assert.ErrorIs(t, second(d.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"true"}, MemoryBytes: -1})), runtime.ErrInvalidArgument, "Run with a negative limit")
		assert.ErrorIs(t, second(d.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"true"}, Env: []string{"=x"}})), runtime.ErrInvalidArgument, "Run with a bad env entry")
		assert.ErrorIs(t, second(d.Run(ctx, runtime.ContainerSpec{Image: "berth-test/absent:1", Cmd: []string{"true"}})), runtime.ErrNotFound, "Run of a missing image")
		assert.Error(t, second(d.LoadImage(ctx, strings.NewReader("garbage"))), "LoadImage of garbage")
	}()
	assert.NoError(t, checkEmpty(ns, true), "namespace %s after removing everything", ns)
}

// cleanups is a stack of clean-up functions run in reverse order.
type cleanups struct{ fns []func() }

func (c *cleanups) add(f func()) { c.fns = append(c.fns, f) }

func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

func loadBaseInto(t *testing.T, d *Driver, c *cleanups) string {
	t.Helper()
	var ref string
	sub := &recorder{TB: t}
	ref = loadBase(sub, d)
	c.add(sub.run)
	return ref
}

func runInto(t *testing.T, d *Driver, c *cleanups, spec runtime.ContainerSpec) runtime.Container {
	t.Helper()
	sub := &recorder{TB: t}
	ct := runDone(sub, d, spec)
	c.add(sub.run)
	return ct
}

// recorder is a testing.TB whose Cleanup functions are kept to run later.
type recorder struct {
	testing.TB
	fns []func()
}

func (r *recorder) Cleanup(f func()) { r.fns = append(r.fns, f) }

func (r *recorder) run() {
	for i := len(r.fns) - 1; i >= 0; i-- {
		r.fns[i]()
	}
}

// TestCommitTwice commits one container twice, and checks that the
// container keeps its status and output after the commit took its
// snapshot, for this driver and a fresh one.
func TestCommitTwice(t *testing.T) {
	d := newDriver(t)
	base := loadBase(t, d)
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{Image: base, Cmd: []string{"sh", "-c", "echo out; echo twice > /work/t; exit 0"}})
	require.NoError(t, err)
	require.NoError(t, second(d.Wait(ctx, c.ID)))
	refs := []string{"berth-test/twice-" + randomHex(4) + ":1", "berth-test/twice-" + randomHex(4) + ":2"}
	var imgs []runtime.Image
	for _, ref := range refs {
		t.Cleanup(func() { removeImage(t, d, ref) })
		img, err := d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
		require.NoError(t, err, "Commit %s", ref)
		imgs = append(imgs, img)
	}
	assert.False(t, imgs[0].ID == imgs[1].ID || imgs[1].Layers != imgs[0].Layers+1, "second commit: %+v after %+v; want a new image one layer up", imgs[1], imgs[0])
	// The commit took the container's snapshot as the image's top one:
	// the container now stands on it.
	_, config, _, _ := storedImage(t, d, refs[1])
	var cfg ocispec.Image
	require.NoError(t, json.Unmarshal(config, &cfg))
	info, err := d.Client().ContainerService().Get(nsContext(d), c.ID)
	require.NoError(t, err)
	st, err := d.Client().SnapshotService(DefaultSnapshotter).Stat(nsContext(d), info.SnapshotKey)
	want := identity.ChainID(cfg.RootFS.DiffIDs).String()
	assert.False(t, err != nil || st.Parent != want, "container snapshot %+v (%v), want parent %s", st, err, want)
	// The first image can go while the container it came from stays.
	assert.NoError(t, d.RemoveImage(ctx, refs[0]), "RemoveImage of a committed image whose container remains")
	d2 := newDriver(t)
	for _, drv := range []*Driver{d, d2} {
		st, err := drv.Wait(ctx, c.ID)
		assert.False(t, err != nil || st.ExitCode != 0, "Wait after commit: %+v %v", st, err)
		got, err := drv.InspectContainer(ctx, c.ID)
		assert.False(t, err != nil || got.State != runtime.StateExited, "InspectContainer after commit: %+v %v", got, err)
		var out bytes.Buffer
		err = drv.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, nil)
		assert.False(t, err != nil || out.String() != "out\n", "Logs after commit: %q %v", out.String(), err)
		assert.NoError(t, drv.Stop(ctx, c.ID, runtime.StopOptions{}), "Stop after commit")
	}
	var out bytes.Buffer
	c2 := runDone(t, d, runtime.ContainerSpec{Image: refs[1], Cmd: []string{"cat", "/work/t"}})
	err = d.Logs(ctx, c2.ID, runtime.LogOptions{Follow: true}, &out, nil)
	assert.False(t, err != nil || out.String() != "twice\n", "second image sees %q %v", out.String(), err)
	assert.NoError(t, d.Remove(ctx, c.ID), "Remove")
}

// TestCommitManySecretKeys commits a container whose SecretEnv names so
// many keys that their list is over containerd's label limit: the
// container runs, and no key or value reaches the committed config.
func TestCommitManySecretKeys(t *testing.T) {
	d := newDriver(t)
	base := loadBase(t, d)
	secret := "hunter2-" + randomHex(4)
	var env []string
	for i := range 300 {
		env = append(env, fmt.Sprintf("BERTH_TEST_SECRET_KEY_%03d=%s-%d", i, secret, i))
	}
	c := runDone(t, d, runtime.ContainerSpec{Image: base, Cmd: []string{"sh", "-c", `test $(env | grep -c ^BERTH_TEST_) -eq 300`}, SecretEnv: env})
	ref := "berth-test/many-secrets-" + randomHex(4) + ":g1"
	t.Cleanup(func() { removeImage(t, d, ref) })
	require.NoError(t, second(d.Commit(context.Background(), c.ID, runtime.CommitOptions{Ref: ref})), "Commit")
	_, config, _, _ := storedImage(t, d, ref)
	assert.False(t, bytes.Contains(config, []byte(secret)) || bytes.Contains(config, []byte("BERTH_TEST_SECRET_KEY")), "the committed config carries the secrets:\n%s", config)
}
