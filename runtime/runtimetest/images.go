package runtimetest

import (
	"slices"
	"strings"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// imageCases check LoadImage, ListImages and RemoveImage.
var imageCases = []testCase{
	{"Load", testLoad},
	{"LoadGarbage", testLoadGarbage},
	{"ListByLabel", testListImages},
	{"Remove", testRemoveImage},
	{"RemoveByID", testRemoveImageByID},
	{"RemoveInUse", testRemoveImageInUse},
}

// makeImage makes a new image labelled for the case plus extra labels, by
// commit (CapCommit) or else by load (CapLoad). Without either it skips the
// case: the driver cannot make images.
func (h *harness) makeImage(name string, extra ...string) (string, runtime.Image) {
	h.t.Helper()
	ref := h.ref(name)
	labels := h.labels(extra...)
	switch {
	case h.info.Has(runtime.CapCommit):
		c, _ := h.mustSucceed(h.sh("echo " + name + " > /work/image-name"))
		return ref, h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: labels})
	case h.info.Has(runtime.CapLoad):
		h.load(testimage.Options{Ref: ref, Labels: labels})
		return ref, h.inspectImage(ref)
	default:
		h.t.Skipf("driver %q declares neither %q nor %q: it cannot make images", h.info.Name, runtime.CapCommit, runtime.CapLoad)
		return "", runtime.Image{}
	}
}

// testLoad loads a test image and runs it.
func testLoad(h *harness) {
	if !h.needs(runtime.CapLoad) {
		return // testUndeclaredCapabilities checks the refusal
	}
	ref := h.ref("load")
	imgs := h.load(testimage.Options{
		Ref:    ref,
		Labels: h.labels("io.berth.test.loaded", "yes"),
		Files:  map[string][]byte{"/work/hello": []byte("from the tar\n")},
	})
	require.Len(h.t, imgs, 1, "images LoadImage(%s) returned", ref)
	assert.NotEmpty(h.t, imgs[0].ID, "ID LoadImage returned")
	assert.Contains(h.t, imgs[0].Refs, ref, "refs LoadImage returned")
	img := h.inspectImage(ref)
	assert.Equal(h.t, imgs[0].ID, img.ID, "InspectImage(%s).ID, against the ID LoadImage returned", ref)
	assert.GreaterOrEqual(h.t, img.Layers, 1, "Layers of the loaded image")
	assert.Positive(h.t, img.Size, "Size of the loaded image")
	assert.Subset(h.t, img.Labels, map[string]string{"io.berth.test.loaded": "yes", LabelKey: h.id}, "labels of the loaded image: the tar's")
	assert.Equal(h.t, img.ID, h.inspectImage(img.ID).ID, "InspectImage by ID %s: its ID", img.ID)
	spec := h.spec("cat", "/work/hello")
	spec.Image = ref
	_, stdout := h.mustSucceed(spec)
	assert.Equal(h.t, "from the tar\n", stdout, "loaded image: cat /work/hello")
}

// testLoadGarbage checks that LoadImage refuses a stream that is not an
// image archive and loads nothing.
func testLoadGarbage(h *harness) {
	if !h.needs(runtime.CapLoad) {
		return
	}
	before, err := h.rt.ListImages(h.ctx, nil)
	require.NoError(h.t, err, "ListImages before LoadImage of garbage")
	_, err = h.rt.LoadImage(h.ctx, strings.NewReader("this is not a tar stream\n"))
	assert.Error(h.t, err, "LoadImage of garbage")
	after, err := h.rt.ListImages(h.ctx, nil)
	require.NoError(h.t, err, "ListImages after LoadImage of garbage")
	assert.LessOrEqual(h.t, len(after), len(before), "number of images after LoadImage of garbage, against before (%v, then %v)", imageIDs(before), imageIDs(after))
}

// testListImages checks ListImages' filter semantics.
func testListImages(h *harness) {
	refA, a := h.makeImage("list-a", roleKey, "a")
	refB, b := h.makeImage("list-b", roleKey, "b")
	refC, c := h.makeImage("list-c")
	for _, tc := range []struct {
		filter runtime.LabelFilter
		want   []runtime.Image
	}{
		{h.labels(), []runtime.Image{a, b, c}},
		{h.labels(roleKey, ""), []runtime.Image{a, b}},
		{h.labels(roleKey, "a"), []runtime.Image{a}},
		{h.labels(roleKey, "zzz"), nil},
		{h.labels("io.berth.test.absent", ""), nil},
	} {
		imgs, err := h.rt.ListImages(h.ctx, tc.filter)
		require.NoError(h.t, err, "ListImages(%v)", tc.filter)
		assert.ElementsMatch(h.t, imageIDs(tc.want), imageIDs(imgs), "IDs ListImages(%v) returned", tc.filter)
		for _, img := range imgs {
			assert.True(h.t, tc.filter.Match(img.Labels), "ListImages(%v) returned %s with labels %v", tc.filter, img.ID, img.Labels)
			assert.True(h.t, slices.ContainsFunc([]string{refA, refB, refC}, func(r string) bool { return slices.Contains(img.Refs, r) }),
				"ListImages(%v): image %s has refs %v, want its ref (one of %s, %s, %s)", tc.filter, img.ID, img.Refs, refA, refB, refC)
		}
	}
	all, err := h.rt.ListImages(h.ctx, nil)
	require.NoError(h.t, err, "ListImages(nil)")
	assert.Subset(h.t, imageIDs(all), []string{a.ID, b.ID, c.ID, h.image.ID}, "IDs ListImages with an empty filter returned (the case's three and the base image)")
}

// testRemoveImage removes an image by reference.
func testRemoveImage(h *harness) {
	ref, _ := h.makeImage("remove")
	require.NoError(h.t, h.rt.RemoveImage(h.ctx, ref), "RemoveImage(%s)", ref)
	_, err := h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage after RemoveImage", err, runtime.ErrNotFound)
	h.expect("RemoveImage twice", h.rt.RemoveImage(h.ctx, ref), runtime.ErrNotFound)
	h.expectNoImages()
	h.inspectImage(h.base) // removing a derived image keeps its base
}

// testRemoveImageByID removes an image by ID.
func testRemoveImageByID(h *harness) {
	ref, img := h.makeImage("remove-id")
	require.NotEmpty(h.t, img.ID, "ID of the image %s", ref)
	require.NoError(h.t, h.rt.RemoveImage(h.ctx, img.ID), "RemoveImage(%s)", img.ID)
	_, err := h.rt.InspectImage(h.ctx, img.ID)
	h.expect("InspectImage by ID after RemoveImage by ID", err, runtime.ErrNotFound)
	_, err = h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage by ref after RemoveImage by ID", err, runtime.ErrNotFound)
	h.expectNoImages()
}

// testRemoveImageInUse checks that an image a container uses, running or
// exited, cannot be removed, and can once the container is gone.
func testRemoveImageInUse(h *harness) {
	ref, img := h.makeImage("in-use")
	spec := h.spec("true")
	spec.Image = ref
	exited, _ := h.mustSucceed(spec)
	spec = h.sh("echo ready; sleep 30")
	spec.Image = ref
	running := h.run(spec)
	h.waitOutput(running.ID, "ready")

	for _, c := range []runtime.Container{running, exited} {
		h.expect("RemoveImage of an image in use (ref)", h.rt.RemoveImage(h.ctx, ref), runtime.ErrConflict)
		h.expect("RemoveImage of an image in use (ID)", h.rt.RemoveImage(h.ctx, img.ID), runtime.ErrConflict)
		assert.Equal(h.t, img.ID, h.inspectImage(ref).ID, "InspectImage(%s).ID after refused RemoveImage", ref)
		require.NoError(h.t, h.rt.Remove(h.ctx, c.ID), "Remove(%s)", c.ID)
	}
	require.NoError(h.t, h.rt.RemoveImage(h.ctx, ref), "RemoveImage(%s) once no container uses it", ref)
	_, err := h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage after RemoveImage", err, runtime.ErrNotFound)
}

// expectNoImages fails the case if it has any image left.
func (h *harness) expectNoImages() {
	h.t.Helper()
	imgs, err := h.rt.ListImages(h.ctx, h.labels())
	require.NoError(h.t, err, "ListImages")
	assert.Empty(h.t, imageIDs(imgs), "images left")
}

func imageIDs(imgs []runtime.Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.ID
	}
	return out
}
