package fake_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// TestRegistryShare pushes a snapshot from one fake and pulls it into
// another, as two hosts share one: the files (a removed one too), the
// config and the layers come across; equal images push as equal digests.
func TestRegistryShare(t *testing.T) {
	reg := drivertest.Registry(t)
	a, ctx := newRuntime(t)
	r := runSpec(t, ctx, a, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", "mkdir -p /work/d && echo one > /work/d/f && rm /etc/group"},
		Env: []string{"FROM=a"}, WorkingDir: "/work",
	})
	require.Equal(t, 0, r.status.ExitCode, "job: %+v", r)
	snap, err := a.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/share:g1", Labels: map[string]string{"gen": "1"}})
	require.NoError(t, err)
	repo := fmt.Sprintf("%s/berth-fake-test/share-%d", reg, time.Now().UnixNano())
	d1, err := a.PushImage(ctx, "snap/share:g1", repo+":one", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")
	d2, err := a.PushImage(ctx, snap.ID, repo+":two", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage again, by ID")
	assert.Equal(t, d1, d2, "digests of two pushes of one image")

	b, _ := newRuntime(t)
	src := repo + "@" + d1
	got, err := b.PullDigest(ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest into another fake")
	assert.Equal(t, []string{src}, got.Refs, "references of the pulled image")
	assert.Equal(t, snap.Layers, got.Layers, "layers of the pulled image")
	assert.Equal(t, snap.Size, got.Size, "size of the pulled image")
	assert.Equal(t, snap.Labels, got.Labels, "labels of the pulled image")
	assert.Equal(t, snap.Env, got.Env, "environment of the pulled image")
	out := sh(t, ctx, b, src, "pwd; cat d/f; echo $FROM; test -e /etc/group || echo group-gone; test -f /etc/passwd && echo passwd-kept")
	assert.Equal(t, "/work\none\na\ngroup-gone\npasswd-kept\n", out.stdout, "the pulled image's files and config")

	again, err := b.PullDigest(ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest again")
	assert.Equal(t, got.ID, again.ID, "ID of the image pulled again")
	imgs, err := b.ListImages(ctx, runtime.LabelFilter{"gen": "1"})
	require.NoError(t, err)
	assert.Len(t, imgs, 1, "images of the other fake after two pulls")
}
