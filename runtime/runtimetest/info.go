package runtimetest

import (
	"bytes"
	"slices"
	"strings"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	runtime.CapPull, runtime.CapLoad, runtime.CapCommit, runtime.CapSquash, runtime.CapLimits, runtime.CapCopy,
	runtime.CapDiff, runtime.CapRegistry,
}

func testInfoSane(h *harness) {
	info, err := h.rt.Info(h.ctx)
	require.NoError(h.t, err, "Info")
	assert.NotEmpty(h.t, info.Name, "Info.Name")
	assert.Equal(h.t, runtime.ProtocolVersion, info.ProtocolVersion, "Info.ProtocolVersion")
	assert.Subset(h.t, knownCapabilities, info.Capabilities, "Info.Capabilities: only known capabilities")
	sorted := slices.Sorted(slices.Values(info.Capabilities))
	assert.Equal(h.t, slices.Compact(slices.Clone(sorted)), sorted, "Info.Capabilities, sorted: each listed once")
	if info.Has(runtime.CapSquash) {
		assert.Contains(h.t, info.Capabilities, runtime.CapCommit, "Info.Capabilities has %q, which needs %q", runtime.CapSquash, runtime.CapCommit)
	}
}

func testPing(h *harness) {
	require.NoError(h.t, h.rt.Ping(h.ctx), "Ping")
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
		require.NoError(h.t, err, "ListContainers")
		assert.Empty(h.t, ids(cs), "containers refused Runs left behind")
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
	if cp, ok := h.rt.(runtime.ImageCopier); ok && !h.info.Has(runtime.CapCopy) {
		ref := h.ref("copy")
		h.cleanupImage(ref)
		_, err := cp.CopyImage(h.ctx, h.base, runtime.CopyOptions{Ref: ref, Labels: h.labels()})
		h.expect("CopyImage without "+string(runtime.CapCopy), err, runtime.ErrNotImplemented)
	}
	if cc, ok := h.rt.(runtime.ChangeChecker); ok && !h.info.Has(runtime.CapDiff) {
		c, _ := h.mustSucceed(h.sh("true"))
		_, err := cc.Changed(h.ctx, c.ID)
		h.expect("Changed without "+string(runtime.CapDiff), err, runtime.ErrNotImplemented)
	}
	if rc, ok := h.rt.(runtime.RegistryClient); ok && !h.info.Has(runtime.CapRegistry) {
		repo := unreachableRegistry + "/berth-conformance/" + h.id
		_, err := rc.PushImage(h.ctx, h.base, repo+":t1", runtime.RegistryOptions{})
		h.expect("PushImage without "+string(runtime.CapRegistry), err, runtime.ErrNotImplemented)
		_, err = rc.PullDigest(h.ctx, repo+"@sha256:"+strings.Repeat("0", 64), runtime.RegistryOptions{})
		h.expect("PullDigest without "+string(runtime.CapRegistry), err, runtime.ErrNotImplemented)
	}
	imgs, err := h.rt.ListImages(h.ctx, h.labels())
	require.NoError(h.t, err, "ListImages")
	assert.Empty(h.t, imgs, "images refused operations left behind")
}
