package containerd

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
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

// uniqueImage loads an image of the test's own (a file of its own makes
// its ID unique) and returns its reference; it is removed at clean-up.
func uniqueImage(t *testing.T, d *Driver) string {
	t.Helper()
	id := randomHex(6)
	ref := "berth-test/reg-" + id + ":1"
	tarball, err := testimage.Tar(testimage.Options{
		Ref:    ref,
		Files:  map[string][]byte{"/id": []byte(id + "\n")},
		Labels: map[string]string{"io.berth.test.containerd": id},
	})
	require.NoError(t, err)
	require.NoError(t, second(d.LoadImage(context.Background(), bytes.NewReader(tarball))), "LoadImage")
	t.Cleanup(func() { removeImage(t, d, ref) })
	return ref
}

// TestRegistryRoundTrip pushes an image, removes it and pulls it back by
// digest, then runs it: the digest is the image's ID.
func TestRegistryRoundTrip(t *testing.T) {
	reg := drivertest.Registry(t)
	d := newDriver(t)
	ctx := context.Background()
	ref := uniqueImage(t, d)
	local, err := d.InspectImage(ctx, ref)
	require.NoError(t, err)

	repo := reg + "/berth-test/containerd-" + randomHex(6)
	dg, err := d.PushImage(ctx, ref, repo+":t1", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")
	assert.Regexp(t, digestRE, dg, "PushImage's digest")
	assert.Equal(t, local.ID, dg, "the pushed manifest's digest: the image's ID")
	after, err := d.InspectImage(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, local.Refs, after.Refs, "references after the push")

	require.NoError(t, d.RemoveImage(ctx, ref), "RemoveImage")
	src := repo + "@" + dg
	t.Cleanup(func() { removeImage(t, d, src) })
	img, err := d.PullDigest(ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest")
	assert.Equal(t, local.ID, img.ID, "the pulled image's ID")
	assert.Equal(t, local.Labels, img.Labels, "the pulled image's labels")
	assert.Equal(t, []string{src}, img.Refs, "the pulled image's references")

	c := runDone(t, d, runtime.ContainerSpec{Image: src, Cmd: []string{"cat", "/id"}})
	var out bytes.Buffer
	require.NoError(t, d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, nil))
	assert.NotEmpty(t, out.String(), "cat /id in the pulled image")
}

// TestRegistryPullHave pulls by digest an image the engine has under
// another name: no fetch (the registry named need not even answer), one
// more name for the same image.
func TestRegistryPullHave(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	ref := uniqueImage(t, d)
	local, err := d.InspectImage(ctx, ref)
	require.NoError(t, err)
	src := freeAddr(t) + "/berth-test/containerd-have@" + local.ID
	t.Cleanup(func() { removeImage(t, d, src) })
	img, err := d.PullDigest(ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest of an image the engine has")
	assert.Equal(t, local.ID, img.ID)
	assert.ElementsMatch(t, []string{ref, src}, img.Refs)
	require.NoError(t, d.RemoveImage(ctx, src))
	left, err := d.InspectImage(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, []string{ref}, left.Refs)
}

// TestRegistryPushIndex pulls by digest an image index (one platform, put
// into the registry by hand) and pushes the image again: what goes is the
// platform's manifest, whose digest PushImage returns.
func TestRegistryPushIndex(t *testing.T) {
	reg := drivertest.Registry(t)
	d := newDriver(t)
	ctx := context.Background()
	ref := uniqueImage(t, d)
	local, err := d.InspectImage(ctx, ref)
	require.NoError(t, err)
	repo := reg + "/berth-test/containerd-index-" + randomHex(6)
	dg, err := d.PushImage(ctx, ref, repo+":m", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage")

	mt, size := headManifest(t, reg, repo, dg)
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: mt, Digest: digest.Digest(dg), Size: size,
			Platform: &ocispec.Platform{OS: "linux", Architecture: goruntime.GOARCH},
		}},
	})
	require.NoError(t, err)
	idxDigest := putManifest(t, reg, repo, "i", ocispec.MediaTypeImageIndex, idx)

	require.NoError(t, d.RemoveImage(ctx, ref))
	src := repo + "@" + idxDigest
	t.Cleanup(func() { removeImage(t, d, src) })
	img, err := d.PullDigest(ctx, src, runtime.RegistryOptions{})
	require.NoError(t, err, "PullDigest of an index")
	assert.Equal(t, idxDigest, img.ID, "the ID of an image pulled by its index: the index's digest")
	again, err := d.PushImage(ctx, src, repo+":again", runtime.RegistryOptions{})
	require.NoError(t, err, "PushImage of an image whose record targets an index")
	assert.Equal(t, local.ID, again, "PushImage of an index: the platform manifest's digest")
}

// TestRegistryErrors checks the error classes of PushImage and PullDigest.
func TestRegistryErrors(t *testing.T) {
	reg := drivertest.Registry(t)
	d := newDriver(t)
	ctx := context.Background()
	ref := uniqueImage(t, d)
	var none runtime.RegistryOptions
	repo := reg + "/berth-test/containerd-" + randomHex(6)
	zero := "@sha256:" + strings.Repeat("0", 64)

	_, err := d.PushImage(ctx, "berth-test/containerd-no-such:x", repo+":t", none)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "PushImage of no image")
	_, err = d.PushImage(ctx, ref, repo, none)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "PushImage to a destination without a tag")
	_, err = d.PushImage(ctx, ref, repo+zero, none)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "PushImage to a destination with a digest")
	down := freeAddr(t)
	_, err = d.PushImage(ctx, ref, down+"/berth-test/x:t", none)
	require.ErrorIs(t, err, runtime.ErrUnavailable, "PushImage to a registry that is down")
	assert.Contains(t, err.Error(), down, "the error names the registry")

	_, err = d.PullDigest(ctx, repo+":t", none)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "PullDigest without a digest")
	_, err = d.PullDigest(ctx, repo+zero, none)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "PullDigest of an unknown manifest")
	_, err = d.InspectImage(ctx, repo+zero)
	assert.ErrorIs(t, err, runtime.ErrNotFound, "a failed pull's reference")
	_, err = d.PullDigest(ctx, down+"/berth-test/x"+zero, none)
	require.ErrorIs(t, err, runtime.ErrUnavailable, "PullDigest from a registry that is down")
	assert.Contains(t, err.Error(), down, "the error names the registry")
}

// headManifest returns the media type and size of repo's manifest dg.
func headManifest(t *testing.T, reg, repo, dg string) (string, int64) {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, "http://"+reg+"/v2/"+strings.TrimPrefix(repo, reg+"/")+"/manifests/"+dg, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "HEAD of the pushed manifest")
	return resp.Header.Get("Content-Type"), resp.ContentLength
}

// putManifest puts body under repo's tag and returns its digest.
func putManifest(t *testing.T, reg, repo, tag, mediaType string, body []byte) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://"+reg+"/v2/"+strings.TrimPrefix(repo, reg+"/")+"/manifests/"+tag, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "PUT of the index")
	return digest.FromBytes(body).String()
}
