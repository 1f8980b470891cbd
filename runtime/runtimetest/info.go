package runtimetest

import (
	"bytes"
	"slices"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// infoCases check Info, Ping and the refusal of undeclared capabilities.
var infoCases = []testCase{
	{"Sane", testInfoSane},
	{"Ping", testPing},
	{"UndeclaredCapabilities", testUndeclaredCapabilities},
}

var knownCapabilities = []runtime.Capability{
	runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits,
}

func testInfoSane(h *harness) {
	info, err := h.rt.Info(h.ctx)
	if err != nil {
		h.t.Fatalf("Info: %v", err)
	}
	if info.Name == "" {
		h.t.Error("Info.Name is empty")
	}
	if info.ProtocolVersion != runtime.ProtocolVersion {
		h.t.Errorf("Info.ProtocolVersion = %d, want %d", info.ProtocolVersion, runtime.ProtocolVersion)
	}
	seen := map[runtime.Capability]bool{}
	for _, c := range info.Capabilities {
		if !slices.Contains(knownCapabilities, c) {
			h.t.Errorf("Info.Capabilities has unknown capability %q", c)
		}
		if seen[c] {
			h.t.Errorf("Info.Capabilities lists %q twice", c)
		}
		seen[c] = true
	}
	if info.Has(runtime.CapSquash) && !info.Has(runtime.CapCommit) {
		h.t.Errorf("Info.Capabilities has %q without %q", runtime.CapSquash, runtime.CapCommit)
	}
}

func testPing(h *harness) {
	if err := h.rt.Ping(h.ctx); err != nil {
		h.t.Fatalf("Ping: %v", err)
	}
}

// testUndeclaredCapabilities checks that every optional operation the
// driver does not declare returns ErrNotImplemented and leaves nothing
// behind.
func testUndeclaredCapabilities(h *harness) {
	if !h.info.Has(runtime.CapPull) {
		_, err := h.rt.PullImage(h.ctx, h.base)
		h.expect("PullImage without "+string(runtime.CapPull), err, runtime.ErrNotImplemented)
	}
	if !h.info.Has(runtime.CapLoad) {
		ref := h.ref("load")
		tarball := h.tar(testimage.Options{Ref: ref})
		h.cleanupImage(ref)
		_, err := h.rt.LoadImage(h.ctx, bytes.NewReader(tarball))
		h.expect("LoadImage without "+string(runtime.CapLoad), err, runtime.ErrNotImplemented)
	}
	if !h.info.Has(runtime.CapLimits) {
		spec := h.spec("true")
		spec.MemoryBytes = 64 << 20
		_, err := h.tryRun(spec)
		h.expect("Run with MemoryBytes without "+string(runtime.CapLimits), err, runtime.ErrNotImplemented)
		spec = h.spec("true")
		spec.NanoCPUs = 500_000_000
		_, err = h.tryRun(spec)
		h.expect("Run with NanoCPUs without "+string(runtime.CapLimits), err, runtime.ErrNotImplemented)
		cs, err := h.rt.ListContainers(h.ctx, h.labels())
		if err != nil {
			h.t.Fatalf("ListContainers: %v", err)
		}
		if len(cs) != 0 {
			h.t.Errorf("refused Run left containers behind: %v", ids(cs))
		}
	}
	if !h.info.Has(runtime.CapCommit) || !h.info.Has(runtime.CapSquash) {
		c, _ := h.mustSucceed(h.sh("echo x > /tmp/x"))
		if !h.info.Has(runtime.CapCommit) {
			ref := h.ref("commit")
			h.cleanupImage(ref)
			_, err := h.rt.Commit(h.ctx, c.ID, runtime.CommitOptions{Ref: ref, Labels: h.labels()})
			h.expect("Commit without "+string(runtime.CapCommit), err, runtime.ErrNotImplemented)
		}
		ref := h.ref("squash")
		h.cleanupImage(ref)
		_, err := h.rt.Commit(h.ctx, c.ID, runtime.CommitOptions{Ref: ref, Labels: h.labels(), Squash: true})
		h.expect("Commit with Squash without "+string(runtime.CapSquash), err, runtime.ErrNotImplemented)
		_, err = h.rt.InspectImage(h.ctx, ref)
		h.expect("InspectImage after a refused squash commit", err, runtime.ErrNotFound)
	}
	imgs, err := h.rt.ListImages(h.ctx, h.labels())
	if err != nil {
		h.t.Fatalf("ListImages: %v", err)
	}
	if len(imgs) != 0 {
		h.t.Errorf("refused operations left images behind: %+v", imgs)
	}
}
