package runtimetest

import (
	"io"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/berth-dev/berth/runtime"
)

// notFoundCases check that every operation on an unknown image or
// container returns ErrNotFound.
var notFoundCases = []testCase{
	{"Images", testImagesNotFound},
	{"Containers", testContainersNotFound},
	{"RunMissingImage", testRunMissingImage},
}

func testImagesNotFound(h *harness) {
	missing := h.ref("missing")
	_, err := h.rt.InspectImage(h.ctx, missing)
	h.expect("InspectImage of an unknown ref", err, runtime.ErrNotFound)
	h.expect("RemoveImage of an unknown ref", h.rt.RemoveImage(h.ctx, missing), runtime.ErrNotFound)
	missingID := "sha256:" + h.id + h.id + h.id + h.id + "0123456789abcdef"
	_, err = h.rt.InspectImage(h.ctx, missingID)
	h.expect("InspectImage of an unknown ID", err, runtime.ErrNotFound)
	h.expect("RemoveImage of an unknown ID", h.rt.RemoveImage(h.ctx, missingID), runtime.ErrNotFound)
}

func testContainersNotFound(h *harness) {
	id := "berth-test-missing-" + h.id
	_, err := h.rt.InspectContainer(h.ctx, id)
	h.expect("InspectContainer", err, runtime.ErrNotFound)
	_, err = h.rt.Wait(h.ctx, id)
	h.expect("Wait", err, runtime.ErrNotFound)
	h.expect("Stop", h.rt.Stop(h.ctx, id, runtime.StopOptions{Grace: time.Second}), runtime.ErrNotFound)
	h.expect("Logs", h.rt.Logs(h.ctx, id, runtime.LogOptions{}, io.Discard, io.Discard), runtime.ErrNotFound)
	h.expect("Logs with Follow", h.rt.Logs(h.ctx, id, runtime.LogOptions{Follow: true}, io.Discard, io.Discard), runtime.ErrNotFound)
	h.expect("Remove", h.rt.Remove(h.ctx, id), runtime.ErrNotFound)
	if h.info.Has(runtime.CapCommit) {
		ref := h.ref("missing")
		h.cleanupImage(ref)
		_, err = h.rt.Commit(h.ctx, id, runtime.CommitOptions{Ref: ref})
		h.expect("Commit", err, runtime.ErrNotFound)
		_, err = h.rt.InspectImage(h.ctx, ref)
		h.expect("InspectImage after a failed Commit", err, runtime.ErrNotFound)
	}
}

// testRunMissingImage checks that Run of an unknown image fails with
// ErrNotFound and leaves no container.
func testRunMissingImage(h *harness) {
	spec := h.spec("true")
	spec.Image = h.ref("missing")
	spec.Name = h.name("missing-image")
	_, err := h.tryRun(spec)
	h.expect("Run of an unknown image", err, runtime.ErrNotFound)
	h.expectNoContainers()
	_, err = h.rt.InspectContainer(h.ctx, spec.Name)
	assert.Error(h.t, err, "InspectContainer(%s) after the failed Run: a container by that name exists", spec.Name)
}
