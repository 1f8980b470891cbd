package podman

import (
	"bytes"
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestRE is the form of a manifest digest PushImage returns.
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// freeAddr returns a loopback address no one listens on (now).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// uniqueBase loads a base image of the test's own (a file of its own makes
// its ID unique, so that removing its reference removes the image) and
// returns its reference.
func (f *fixture) uniqueBase() string {
	f.t.Helper()
	ref := f.ref("reg")
	tarball, err := testimage.Tar(testimage.Options{
		Ref:    ref,
		Files:  map[string][]byte{"/id": []byte(ref + "\n")},
		Labels: map[string]string{testLabel: f.id},
	})
	require.NoError(f.t, err)
	f.cleanupImage(ref)
	require.NoError(f.t, second(f.d.LoadImage(f.ctx, bytes.NewReader(tarball))), "LoadImage")
	return ref
}

// TestRegistryRoundTrip pushes an image, removes it and pulls it back by
// digest, then runs it.
func TestRegistryRoundTrip(t *testing.T) {
	reg := drivertest.Registry(t)
	f := newFixture(t)
	ref := f.uniqueBase()
	before, err := f.d.InspectImage(f.ctx, ref)
	require.NoError(t, err)

	repo := reg + "/berth-test/podman-" + f.id
	dg, err := f.d.PushImage(f.ctx, ref, repo+":t1", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")
	assert.Regexp(t, digestRE, dg, "PushImage's digest")
	after, err := f.d.InspectImage(f.ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, before.Refs, after.Refs, "the pushed image's references")

	again, err := f.d.PushImage(f.ctx, ref, repo+":t2", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage again")
	assert.Equal(t, dg, again, "the same image pushed under another tag")

	require.NoError(t, f.d.RemoveImage(f.ctx, ref), "RemoveImage")
	src := repo + "@" + dg
	f.cleanupImage(src)
	img, err := f.d.PullDigest(f.ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest")
	assert.Equal(t, before.ID, img.ID, "the pulled image's ID")
	assert.Equal(t, f.id, img.Labels[testLabel], "the pulled image's labels")
	assert.Empty(t, img.Refs, "the pulled image's references: a digest reference is none (Podman's RepoTags leave it out)")

	s := f.spec("cat", "/id")
	s.Image = src
	_, st, out := f.runToEnd(s)
	assert.Equal(t, 0, st.ExitCode, "exit code")
	assert.Equal(t, ref+"\n", out, "the pulled image's file")

	img2, err := f.d.PullDigest(f.ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest of an image the engine has")
	assert.Equal(t, img.ID, img2.ID)
}

// TestRegistryPullAddsName pulls by digest an image the engine has under
// another name: Podman adds the digest reference to the image's names
// (which Refs leave out). Once it is removed, it names nothing, though
// Podman 4 would still resolve it by the digest the image recorded; an
// image with both names is removed by its ID.
func TestRegistryPullAddsName(t *testing.T) {
	reg := drivertest.Registry(t)
	f := newFixture(t)
	ref := f.uniqueBase()
	src := reg + "/berth-test/podman-" + f.id
	dg, err := f.d.PushImage(f.ctx, ref, src+":t", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")
	src += "@" + dg
	f.cleanupImage(src)
	img, err := f.d.PullDigest(f.ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest")
	assert.Equal(t, []string{ref}, img.Refs, "references after the pull")
	byDigest, err := f.d.InspectImage(f.ctx, src)
	require.NoError(t, err, "InspectImage(src)")
	assert.Equal(t, img.ID, byDigest.ID, "the image src names")

	require.NoError(t, f.d.RemoveImage(f.ctx, src), "RemoveImage(src)")
	_, err = f.d.InspectImage(f.ctx, src)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "InspectImage(src) once removed")
	assert.ErrorIs(t, f.d.RemoveImage(f.ctx, src), runtime.ErrNotFound, "RemoveImage(src) once removed")
	left, err := f.d.InspectImage(f.ctx, ref)
	require.NoError(t, err, "the image under its first name")
	assert.Equal(t, []string{ref}, left.Refs)

	again, err := f.d.PullDigest(f.ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest again")
	assert.Equal(t, img.ID, again.ID)
	require.NoError(t, f.d.RemoveImage(f.ctx, img.ID), "RemoveImage by ID of an image with a tag and a digest reference")
	for _, r := range []string{ref, src, img.ID} {
		_, err = f.d.InspectImage(f.ctx, r)
		assert.ErrorIs(t, err, runtime.ErrNotFound, "InspectImage(%s) after the removal by ID", r)
	}
}

// TestRegistryErrors checks the error classes of PushImage and PullDigest.
func TestRegistryErrors(t *testing.T) {
	reg := drivertest.Registry(t)
	f := newFixture(t)
	var none runtime.RegistryOptions
	repo := reg + "/berth-test/podman-" + f.id
	zero := "@sha256:" + strings.Repeat("0", 64)

	_, err := f.d.PushImage(f.ctx, "berth-test/podman-no-such-"+f.id+":x", repo+":t", none)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "PushImage of no image")
	_, err = f.d.PushImage(f.ctx, f.base, repo, none)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "PushImage to a destination without a tag")
	_, err = f.d.PushImage(f.ctx, f.base, "Bad/Ref:t", none)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "PushImage to a malformed destination")
	down := freeAddr(t)
	_, err = f.d.PushImage(f.ctx, f.base, down+"/berth-test/x:t", none)
	require.ErrorIs(t, err, runtime.ErrUnavailable, "PushImage to a registry that is down")
	assert.Contains(t, err.Error(), down, "the error names the registry")

	_, err = f.d.PullDigest(f.ctx, repo+":t", none)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "PullDigest without a digest")
	_, err = f.d.PullDigest(f.ctx, repo+zero, none)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "PullDigest of an unknown manifest")
	_, err = f.d.InspectImage(f.ctx, repo+zero)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "a failed pull's reference")
	_, err = f.d.PullDigest(f.ctx, down+"/berth-test/x"+zero, none)
	require.ErrorIs(t, err, runtime.ErrUnavailable, "PullDigest from a registry that is down")
	assert.Contains(t, err.Error(), down, "the error names the registry")

	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	_, err = f.d.PullDigest(ctx, repo+zero, none)
	assert.True(t, errors.Is(err, context.Canceled), "PullDigest with a cancelled context: %v", err)
}
