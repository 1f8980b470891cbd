package runtimetest

import (
	"maps"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// copyCases check ImageCopier.CopyImage (CapCopy). A driver without
// CapCopy passes them trivially: testUndeclaredCapabilities checks that it
// refuses.
var copyCases = []testCase{
	{"NewRefAndLabels", testCopyNewRefAndLabels},
	{"Taken", testCopyTaken},
	{"NotFound", testCopyNotFound},
}

// copier returns the runtime as an ImageCopier when it declares CapCopy.
func (h *harness) copier() (runtime.ImageCopier, bool) {
	if !h.needs(runtime.CapCopy) {
		return nil, false
	}
	cp, ok := h.rt.(runtime.ImageCopier)
	require.True(h.t, ok, "driver declares %q but does not implement runtime.ImageCopier", runtime.CapCopy)
	return cp, true
}

// copySource returns an image to copy, labelled for the case: a commit of
// a file when the driver can commit, else the base image.
func (h *harness) copySource() (ref, content string) {
	if !h.info.Has(runtime.CapCommit) {
		return h.base, ""
	}
	c, _ := h.mustSucceed(h.sh("mkdir -p /work && echo copied-content > /work/f"))
	ref = h.ref("copysrc")
	h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: map[string]string{"io.berth.test.kind": "source", "io.berth.test.keep": "kept"}})
	return ref, "copied-content\n"
}

// testCopyNewRefAndLabels copies an image under a new reference with
// changed labels: the copy has the source's files, labels and layers (one
// empty layer more at most) with the new labels over them; the source keeps its own; the copy outlives the
// source's reference.
func testCopyNewRefAndLabels(h *harness) {
	cp, ok := h.copier()
	if !ok {
		return
	}
	src, content := h.copySource()
	before := h.inspectImage(src)
	ref := h.ref("copy")
	h.cleanupImage(ref)
	img, err := cp.CopyImage(h.ctx, src, runtime.CopyOptions{Ref: ref, Labels: h.labels("io.berth.test.kind", "copy")})
	require.NoError(h.t, err, "CopyImage(%s, %s)", src, ref)
	assert.NotEmpty(h.t, img.ID, "ID CopyImage returned")
	assert.Positive(h.t, img.Size, "Size CopyImage returned")
	assert.Contains(h.t, []int{before.Layers, before.Layers + 1}, img.Layers, "Layers CopyImage returned, against the source's %d (one empty layer more at most)", before.Layers)
	got := h.inspectImage(ref)
	assert.Equal(h.t, img.ID, got.ID, "InspectImage(%s).ID, against the ID CopyImage returned", ref)
	assert.Equal(h.t, img.Layers, got.Layers, "InspectImage(%s).Layers, against the Layers CopyImage returned", ref)
	assert.Contains(h.t, got.Refs, ref, "refs of the copy")
	want := maps.Clone(before.Labels)
	maps.Copy(want, h.labels("io.berth.test.kind", "copy"))
	assert.Subset(h.t, got.Labels, want, "labels of the copy: the source's, then the new ones")
	after := h.inspectImage(src)
	assert.Equal(h.t, before.ID, after.ID, "the source's ID after the copy")
	assert.Equal(h.t, before.Labels, after.Labels, "the source's labels after the copy")
	assert.NotContains(h.t, after.Refs, ref, "the source's refs after the copy")
	if content == "" {
		h.mustSucceed(runtime.ContainerSpec{Image: ref, Cmd: []string{"true"}, Labels: h.labels()})
		return
	}
	require.NoError(h.t, h.rt.RemoveImage(h.ctx, src), "RemoveImage(%s), the copy's source", src)
	spec := h.spec("cat", "/work/f")
	spec.Image = ref
	_, stdout := h.mustSucceed(spec)
	assert.Equal(h.t, content, stdout, "the copy, once its source's reference is gone: cat /work/f")
}

// testCopyTaken checks that a copy never moves a reference.
func testCopyTaken(h *harness) {
	cp, ok := h.copier()
	if !ok {
		return
	}
	src, _ := h.copySource()
	ref := h.ref("taken")
	h.cleanupImage(ref)
	first, err := cp.CopyImage(h.ctx, src, runtime.CopyOptions{Ref: ref, Labels: h.labels("io.berth.test.kind", "first")})
	require.NoError(h.t, err, "CopyImage(%s, %s)", src, ref)
	_, err = cp.CopyImage(h.ctx, src, runtime.CopyOptions{Ref: ref, Labels: h.labels("io.berth.test.kind", "second")})
	h.expect("CopyImage to a taken reference", err, runtime.ErrAlreadyExists)
	got := h.inspectImage(ref)
	assert.Equal(h.t, first.ID, got.ID, "%s after a refused copy: still the first copy", ref)
	assert.Equal(h.t, "first", got.Labels["io.berth.test.kind"], "label of %s after a refused copy", ref)
}

// testCopyNotFound checks that copying a missing image fails with
// ErrNotFound and leaves no reference.
func testCopyNotFound(h *harness) {
	cp, ok := h.copier()
	if !ok {
		return
	}
	ref := h.ref("copy")
	h.cleanupImage(ref)
	_, err := cp.CopyImage(h.ctx, h.ref("missing"), runtime.CopyOptions{Ref: ref, Labels: h.labels()})
	h.expect("CopyImage of a missing image", err, runtime.ErrNotFound)
	_, err = h.rt.InspectImage(h.ctx, ref)
	h.expect("InspectImage after a failed copy", err, runtime.ErrNotFound)
}
