package runtimetest

import (
	"slices"
	"strings"

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
	if len(imgs) != 1 {
		h.t.Fatalf("LoadImage returned %d images, want 1: %+v", len(imgs), imgs)
	}
	if imgs[0].ID == "" || !slices.Contains(imgs[0].Refs, ref) {
		h.t.Errorf("LoadImage returned ID %q refs %v, want an ID and ref %s", imgs[0].ID, imgs[0].Refs, ref)
	}
	img := h.inspectImage(ref)
	if img.ID != imgs[0].ID {
		h.t.Errorf("InspectImage ID %q, LoadImage said %q", img.ID, imgs[0].ID)
	}
	if img.Layers < 1 || img.Size <= 0 {
		h.t.Errorf("loaded image has Layers %d, Size %d; want at least 1 layer and a size", img.Layers, img.Size)
	}
	if img.Labels["io.berth.test.loaded"] != "yes" || img.Labels[LabelKey] != h.id {
		h.t.Errorf("loaded image labels = %v, want the tar's labels", img.Labels)
	}
	if byID := h.inspectImage(img.ID); byID.ID != img.ID {
		h.t.Errorf("InspectImage by ID %s returned ID %s", img.ID, byID.ID)
	}
	spec := h.spec("cat", "/work/hello")
	spec.Image = ref
	if _, stdout := h.mustSucceed(spec); stdout != "from the tar\n" {
		h.t.Errorf("loaded image: cat /work/hello = %q, want %q", stdout, "from the tar\n")
	}
}

// testLoadGarbage checks that LoadImage refuses a stream that is not an
// image archive and loads nothing.
func testLoadGarbage(h *harness) {
	if !h.needs(runtime.CapLoad) {
		return
	}
	before, err := h.rt.ListImages(h.ctx, nil)
	if err != nil {
		h.t.Fatalf("ListImages: %v", err)
	}
	if _, err := h.rt.LoadImage(h.ctx, strings.NewReader("this is not a tar stream\n")); err == nil {
		h.t.Error("LoadImage of garbage succeeded")
	}
	after, err := h.rt.ListImages(h.ctx, nil)
	if err != nil {
		h.t.Fatalf("ListImages: %v", err)
	}
	if len(after) > len(before) {
		h.t.Errorf("LoadImage of garbage left images: %d before, %d after", len(before), len(after))
	}
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
		if err != nil {
			h.t.Fatalf("ListImages(%v): %v", tc.filter, err)
		}
		if got, want := imageIDs(imgs), imageIDs(tc.want); !sameSet(got, want) {
			h.t.Errorf("ListImages(%v) = %v, want %v", tc.filter, got, want)
		}
		for _, img := range imgs {
			if !tc.filter.Match(img.Labels) {
				h.t.Errorf("ListImages(%v) returned %s with labels %v", tc.filter, img.ID, img.Labels)
			}
			if !slices.ContainsFunc([]string{refA, refB, refC}, func(r string) bool { return slices.Contains(img.Refs, r) }) {
				h.t.Errorf("ListImages: image %s has refs %v, want its ref", img.ID, img.Refs)
			}
		}
	}
	all, err := h.rt.ListImages(h.ctx, nil)
	if err != nil {
		h.t.Fatalf("ListImages(nil): %v", err)
	}
	for _, id := range []string{a.ID, b.ID, c.ID, h.image.ID} {
		if !slices.Contains(imageIDs(all), id) {
			h.t.Errorf("ListImages with an empty filter lacks %s", id)
		}
	}
}

// testRemoveImage removes an image by reference.
func testRemoveImage(h *harness) {
	ref, _ := h.makeImage("remove")
	if err := h.rt.RemoveImage(h.ctx, ref); err != nil {
		h.t.Fatalf("RemoveImage(%s): %v", ref, err)
	}
	_, err := h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage after RemoveImage", err, runtime.ErrNotFound)
	h.expect("RemoveImage twice", h.rt.RemoveImage(h.ctx, ref), runtime.ErrNotFound)
	h.expectNoImages()
	h.inspectImage(h.base) // removing a derived image keeps its base
}

// testRemoveImageByID removes an image by ID.
func testRemoveImageByID(h *harness) {
	ref, img := h.makeImage("remove-id")
	if img.ID == "" {
		h.t.Fatal("image has no ID")
	}
	if err := h.rt.RemoveImage(h.ctx, img.ID); err != nil {
		h.t.Fatalf("RemoveImage(%s): %v", img.ID, err)
	}
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
		if got := h.inspectImage(ref); got.ID != img.ID {
			h.t.Errorf("image after refused RemoveImage: ID %q, want %q", got.ID, img.ID)
		}
		if err := h.rt.Remove(h.ctx, c.ID); err != nil {
			h.t.Fatalf("Remove(%s): %v", c.ID, err)
		}
	}
	if err := h.rt.RemoveImage(h.ctx, ref); err != nil {
		h.t.Fatalf("RemoveImage once no container uses it: %v", err)
	}
	_, err := h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage after RemoveImage", err, runtime.ErrNotFound)
}

// expectNoImages fails the case if it has any image left.
func (h *harness) expectNoImages() {
	h.t.Helper()
	imgs, err := h.rt.ListImages(h.ctx, h.labels())
	if err != nil {
		h.t.Fatalf("ListImages: %v", err)
	}
	if len(imgs) != 0 {
		h.t.Errorf("images left: %v", imageIDs(imgs))
	}
}

func imageIDs(imgs []runtime.Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.ID
	}
	return out
}
