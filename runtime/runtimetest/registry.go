package runtimetest

import (
	"context"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// RegistryEnv is the environment variable that names the registry the
// Registry cases push to ("host:port") when Config.Registry is empty.
// scripts/registry.sh starts one on loopback and prints its address.
const RegistryEnv = drivertest.RegistryEnv

// registryCases check RegistryClient.PushImage and PullDigest
// (CapRegistry) against a real registry, Config.Registry (or RegistryEnv).
// Without one they skip, and fail in CI (CI=true). Each case pushes to a
// repository of its own, "berth-conformance/<case>-<random>", and removes
// what it made in the engine (and, best effort, the manifests it pushed).
// A driver without CapRegistry passes them trivially:
// testUndeclaredCapabilities checks that it refuses.
var registryCases = []testCase{
	{"PushPull", testRegistryPushPull},
	{"PushByID", testRegistryPushByID},
	{"PullExisting", testRegistryPullExisting},
	{"PullUnknownDigest", testRegistryPullUnknown},
	{"PullWithoutDigest", testRegistryPullWithoutDigest},
	{"PushNotFound", testRegistryPushNotFound},
	{"PushBadDest", testRegistryPushBadDest},
	{"Unreachable", testRegistryUnreachable},
}

// unreachableRegistry is a registry address nothing listens on.
const unreachableRegistry = "127.0.0.1:1"

// digestPattern is the form of a manifest digest PushImage returns.
var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// registryClient returns the runtime as a RegistryClient and the registry
// to use when the driver declares CapRegistry. Without a registry it skips
// the case, or fails it in CI.
func (h *harness) registryClient() (runtime.RegistryClient, string, bool) {
	h.t.Helper()
	if !h.needs(runtime.CapRegistry) {
		return nil, "", false
	}
	rc, ok := h.rt.(runtime.RegistryClient)
	require.True(h.t, ok, "driver declares %q but does not implement runtime.RegistryClient", runtime.CapRegistry)
	if h.registry == "" {
		h.registry = drivertest.Registry(h.t) // fails in CI, skips elsewhere
	}
	return rc, h.registry, true
}

// repo returns a repository of this case's own under registry.
func (h *harness) repo(registry string) string {
	return registry + "/berth-conformance/" + h.id + "-" + randomID()[:6]
}

// pushable commits a container that wrote content to /work/pushed, labelled
// for the case, and returns the image's reference and the image.
func (h *harness) pushable(content string) (string, runtime.Image) {
	h.t.Helper()
	if !h.info.Has(runtime.CapCommit) {
		ref, img := h.makeImage("pushsrc", "io.berth.test.kind", "pushed")
		return ref, img
	}
	c, _ := h.mustSucceed(h.sh("mkdir -p /work && echo " + content + " > /work/pushed"))
	ref := h.ref("pushsrc")
	h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: map[string]string{"io.berth.test.kind": "pushed"}})
	return ref, h.inspectImage(ref)
}

// push pushes ref to dest, checks the digest's form and that the local
// image is left as it was, and forgets the manifest at clean-up.
func (h *harness) push(rc runtime.RegistryClient, ref, dest string) string {
	h.t.Helper()
	before := h.inspectImage(ref)
	digest, err := rc.PushImage(h.ctx, ref, dest, runtime.RegistryOptions{})
	require.NoError(h.t, err, "PushImage(%s, %s)", ref, dest)
	require.Regexp(h.t, digestPattern, digest, "digest PushImage(%s, %s) returned", ref, dest)
	repo, _ := splitTag(dest)
	h.forget(repo, digest)
	after := h.inspectImage(ref)
	assert.Equal(h.t, before.ID, after.ID, "ID of %s after the push", ref)
	assert.ElementsMatch(h.t, before.Refs, after.Refs, "references of %s after the push: as they were", ref)
	assert.Equal(h.t, before.Labels, after.Labels, "labels of %s after the push", ref)
	_, err = h.rt.InspectImage(h.ctx, dest)
	h.expect("InspectImage of the push's destination after the push (no reference left)", err, runtime.ErrNotFound)
	_, err = h.rt.InspectImage(h.ctx, repo+"@"+digest)
	h.expect("InspectImage of the pushed digest before any pull (no reference left)", err, runtime.ErrNotFound)
	return digest
}

// splitTag cuts ref's tag off: the repository and the tag ("" if none).
func splitTag(ref string) (repo, tag string) {
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// forget deletes the manifest repo@digest from its registry at clean-up,
// best effort (the registry must allow deletes; scripts/registry.sh's does),
// so that runs do not pile up manifests.
func (h *harness) forget(repo, digest string) {
	host, path, _ := strings.Cut(repo, "/")
	if !runtime.IsLoopbackRegistry(repo) {
		return
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+host+"/v2/"+path+"/manifests/"+digest, nil)
		if err != nil {
			return
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
}

// pull calls PullDigest(src), removes src at clean-up and checks that
// InspectImage finds what PullDigest returned by src.
func (h *harness) pull(rc runtime.RegistryClient, src string) runtime.Image {
	h.t.Helper()
	h.cleanupImage(src)
	img, err := rc.PullDigest(h.ctx, src, runtime.RegistryOptions{})
	require.NoError(h.t, err, "PullDigest(%s)", src)
	assert.NotEmpty(h.t, img.ID, "ID PullDigest(%s) returned", src)
	got := h.inspectImage(src)
	assert.Equal(h.t, img.ID, got.ID, "InspectImage(%s).ID, against the ID PullDigest returned", src)
	return got
}

// removeImage removes ref and checks that it names nothing any more.
func (h *harness) removeImage(ref string) {
	h.t.Helper()
	require.NoError(h.t, h.rt.RemoveImage(h.ctx, ref), "RemoveImage(%s)", ref)
	_, err := h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage("+ref+") after RemoveImage", err, runtime.ErrNotFound)
}

// testRegistryPushPull pushes a committed image, removes it from the
// engine, pulls it back by digest and runs it: the same labels and files;
// then removes it by its digest reference.
func testRegistryPushPull(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	ref, local := h.pushable("pushed-content")
	repo := h.repo(registry)
	digest := h.push(rc, ref, repo+":t1")
	h.removeImage(ref)
	_, err := h.rt.InspectImage(h.ctx, local.ID)
	h.expect("InspectImage by ID of the pushed image once its reference is removed (the push left it no other)", err, runtime.ErrNotFound)

	src := repo + "@" + digest
	img := h.pull(rc, src)
	assert.Equal(h.t, local.Labels, img.Labels, "labels of the image pulled back, against the pushed image's")
	assert.Equal(h.t, local.Layers, img.Layers, "layers of the image pulled back, against the pushed image's")
	if h.info.Has(runtime.CapCommit) {
		spec := h.spec("cat", "/work/pushed")
		spec.Image = src
		c, stdout := h.mustSucceed(spec)
		assert.Equal(h.t, "pushed-content\n", stdout, "a container of the image pulled back: cat /work/pushed")
		require.NoError(h.t, h.rt.Remove(h.ctx, c.ID), "Remove(%s)", c.ID)
	}
	h.removeImage(src)
	_, err = h.rt.InspectImage(h.ctx, img.ID)
	h.expect("InspectImage by ID of the pulled image once its digest reference is removed", err, runtime.ErrNotFound)
}

// testRegistryPushByID pushes an image named by its ID, twice: the image
// keeps its references, and no image is added.
func testRegistryPushByID(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	ref, local := h.pushable("by-id")
	imgs, err := h.rt.ListImages(h.ctx, h.labels())
	require.NoError(h.t, err, "ListImages before the pushes")
	repo := h.repo(registry)
	h.push(rc, local.ID, repo+":by-id")
	h.push(rc, ref, repo+":by-ref")
	after, err := h.rt.ListImages(h.ctx, h.labels())
	require.NoError(h.t, err, "ListImages after the pushes")
	assert.ElementsMatch(h.t, imageIDs(imgs), imageIDs(after), "the case's images after two pushes: as they were")
	assert.Equal(h.t, []string{ref}, h.inspectImage(ref).Refs, "references of the pushed image")
}

// testRegistryPullExisting pulls by digest an image the engine still has:
// the same image, not a second one; removing the digest reference leaves
// the image its other reference.
func testRegistryPullExisting(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	ref, local := h.pushable("existing")
	repo := h.repo(registry)
	digest := h.push(rc, ref, repo+":t1")
	before, err := h.rt.ListImages(h.ctx, h.labels())
	require.NoError(h.t, err, "ListImages before the pull")
	src := repo + "@" + digest
	img := h.pull(rc, src)
	assert.Equal(h.t, local.ID, img.ID, "ID of an image pulled while the engine has it: the image it has")
	after, err := h.rt.ListImages(h.ctx, h.labels())
	require.NoError(h.t, err, "ListImages after the pull")
	assert.ElementsMatch(h.t, imageIDs(before), imageIDs(after), "the case's images after pulling one the engine has: no new one")
	assert.Contains(h.t, h.inspectImage(ref).Refs, ref, "references of the local image after the pull")
	h.removeImage(src)
	assert.Equal(h.t, local.ID, h.inspectImage(ref).ID, "%s once the digest reference is removed: still there", ref)
}

// testRegistryPullUnknown pulls digests no registry has, from a repository
// that does not exist and from one that does: not found, and no reference
// left behind.
func testRegistryPullUnknown(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	unknown := "sha256:" + strings.Repeat(h.id, 5)[:52] + "0123456789ab"
	existing := h.repo(registry)
	if h.info.Has(runtime.CapCommit) || h.info.Has(runtime.CapLoad) {
		ref, _ := h.pushable("unknown")
		h.push(rc, ref, existing+":t1")
	}
	for _, src := range []string{h.repo(registry) + "@" + unknown, existing + "@" + unknown} {
		h.cleanupImage(src)
		_, err := rc.PullDigest(h.ctx, src, runtime.RegistryOptions{})
		h.expect("PullDigest("+src+") of an unknown digest", err, runtime.ErrNotFound)
		_, err = h.rt.InspectImage(h.ctx, src)
		h.expect("InspectImage("+src+") after a failed pull", err, runtime.ErrNotFound)
	}
}

// testRegistryPullWithoutDigest: PullDigest takes references by digest
// only.
func testRegistryPullWithoutDigest(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	repo := h.repo(registry)
	for _, src := range []string{repo + ":t1", repo, repo + "@sha256:0123", ""} {
		_, err := rc.PullDigest(h.ctx, src, runtime.RegistryOptions{})
		h.expect("PullDigest("+src+") without a digest", err, runtime.ErrInvalidArgument)
	}
}

// testRegistryPushNotFound pushes an image the engine does not have.
func testRegistryPushNotFound(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	dest := h.repo(registry) + ":t1"
	h.cleanupImage(dest)
	_, err := rc.PushImage(h.ctx, h.ref("missing"), dest, runtime.RegistryOptions{})
	h.expect("PushImage of an unknown image", err, runtime.ErrNotFound)
	_, err = h.rt.InspectImage(h.ctx, dest)
	h.expect("InspectImage of the destination after a failed push", err, runtime.ErrNotFound)
}

// testRegistryPushBadDest pushes to malformed destinations.
func testRegistryPushBadDest(h *harness) {
	rc, registry, ok := h.registryClient()
	if !ok {
		return
	}
	ref, local := h.pushable("bad-dest")
	for _, dest := range []string{"", registry + "/Berth-Conformance/UPPER:t1", registry + "/berth-conformance/x:bad tag"} {
		_, err := rc.PushImage(h.ctx, ref, dest, runtime.RegistryOptions{})
		h.expect("PushImage to "+dest, err, runtime.ErrInvalidArgument)
	}
	assert.Equal(h.t, local.Refs, h.inspectImage(ref).Refs, "references of %s after refused pushes", ref)
}

// testRegistryUnreachable pushes to and pulls from a registry that does
// not listen: unavailable, naming the registry, and nothing left behind.
func testRegistryUnreachable(h *harness) {
	rc, _, ok := h.registryClient()
	if !ok {
		return
	}
	ref, local := h.pushable("unreachable")
	repo := h.repo(unreachableRegistry)
	dest := repo + ":t1"
	h.cleanupImage(dest)
	_, err := rc.PushImage(h.ctx, ref, dest, runtime.RegistryOptions{})
	h.expect("PushImage to a registry that does not listen", err, runtime.ErrUnavailable)
	if err != nil {
		assert.Contains(h.t, err.Error(), unreachableRegistry, "error of a push to a registry that does not listen: names it")
	}
	_, err = h.rt.InspectImage(h.ctx, dest)
	h.expect("InspectImage of the destination after a failed push", err, runtime.ErrNotFound)
	after := h.inspectImage(ref)
	assert.Equal(h.t, local.ID, after.ID, "ID of %s after a failed push", ref)
	assert.True(h.t, slices.Equal(local.Refs, after.Refs), "references of %s after a failed push: %v, want %v", ref, after.Refs, local.Refs)

	src := repo + "@sha256:" + strings.Repeat(h.id, 5)[:52] + "0123456789ab"
	h.cleanupImage(src)
	_, err = rc.PullDigest(h.ctx, src, runtime.RegistryOptions{})
	h.expect("PullDigest from a registry that does not listen", err, runtime.ErrUnavailable)
	if err != nil {
		assert.Contains(h.t, err.Error(), unreachableRegistry, "error of a pull from a registry that does not listen: names it")
	}
	_, err = h.rt.InspectImage(h.ctx, src)
	h.expect("InspectImage after a failed pull", err, runtime.ErrNotFound)
}
