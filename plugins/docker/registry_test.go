package docker

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// testRepo returns a repository of the test's own under the registry of
// drivertest.RegistryEnv; without one the test skips (fails in CI).
func testRepo(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("%s/berth-dockertest/push-%d-%d", drivertest.Registry(t), os.Getpid(), time.Now().UnixNano())
}

// TestPushKeepsDigestReference pushes an image whose only reference is a
// digest reference in the destination's repository (an image PullDigest
// made) under a new tag of that repository: Docker's removal of the tag
// would take the digest reference, and with it the image, which the driver
// gives back.
func TestPushKeepsDigestReference(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	repo := testRepo(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo kept > /work/f"}})
	ref := newRef()
	img := commit(t, d, c.ID, runtime.CommitOptions{Ref: ref})
	digest, err := d.PushImage(ctx, ref, repo+":one", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")
	src := repo + "@" + digest
	_, err = d.PullDigest(ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest of the image the engine has")
	t.Cleanup(func() { d.RemoveImage(context.Background(), src) })
	require.NoError(t, d.RemoveImage(ctx, ref), "RemoveImage(%s): the digest reference is left", ref)

	again, err := d.PushImage(ctx, src, repo+":two", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage of the image named by its digest reference only")
	assert.Equal(t, digest, again, "digest of the second push")
	got, err := d.InspectImage(ctx, src)
	require.NoError(t, err, "InspectImage(%s) after the push", src)
	assert.Equal(t, img.ID, got.ID, "the image its digest reference names after the push")
	assert.Empty(t, got.Refs, "tags of the image after the push")
	assert.ErrorIs(t, second(d.InspectImage(ctx, repo+":two")), runtime.ErrNotFound, "the push's tag after the push")
	assert.Equal(t, "kept\n", output(t, d, src, "cat /work/f"), "a container of the image after the push")
}

// TestPushGivesTagBack pushes to a destination that names another local
// image: the tag names that image again afterwards.
func TestPushGivesTagBack(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	repo := testRepo(t)
	c := runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo a > /work/f"}})
	pushed := commit(t, d, c.ID, runtime.CommitOptions{Ref: newRef()})
	c = runToEnd(t, d, runtime.ContainerSpec{Cmd: []string{"sh", "-c", "echo b > /work/f"}})
	dest := repo + ":taken"
	other := commit(t, d, c.ID, runtime.CommitOptions{Ref: dest})
	_, err := d.PushImage(ctx, pushed.ID, dest, runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")
	got, err := d.InspectImage(ctx, dest)
	require.NoError(t, err, "InspectImage(%s) after the push", dest)
	assert.Equal(t, other.ID, got.ID, "the image %s names after a push of another image to it", dest)
	after, err := d.InspectImage(ctx, pushed.ID)
	require.NoError(t, err)
	assert.Equal(t, pushed.Refs, after.Refs, "references of the pushed image")
}
