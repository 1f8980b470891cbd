package runtimetest

import (
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// diffCases check ChangeChecker.Changed (CapDiff). A driver without
// CapDiff passes them trivially: testUndeclaredCapabilities checks that it
// refuses.
var diffCases = []testCase{
	{"Unchanged", testDiffUnchanged},
	{"Changes", testDiffChanges},
	{"Running", testDiffRunning},
	{"NotFound", testDiffNotFound},
}

// changeChecker returns the runtime as a ChangeChecker when it declares
// CapDiff.
func (h *harness) changeChecker() (runtime.ChangeChecker, bool) {
	if !h.needs(runtime.CapDiff) {
		return nil, false
	}
	cc, ok := h.rt.(runtime.ChangeChecker)
	require.True(h.t, ok, "driver declares %q but does not implement runtime.ChangeChecker", runtime.CapDiff)
	return cc, true
}

// changed runs spec to its successful end and returns what Changed says.
func (h *harness) changed(cc runtime.ChangeChecker, spec runtime.ContainerSpec) bool {
	c, _ := h.mustSucceed(spec)
	changed, err := cc.Changed(h.ctx, c.ID)
	require.NoError(h.t, err, "Changed(%s) of %v", c.ID, spec.Cmd)
	return changed
}

// testDiffUnchanged: containers that only read (and write to their output,
// or to a tmpfs-free path they do not keep) changed nothing, also with a
// working directory, environment and labels set, and also when started from
// a commit of a container that did change something.
func testDiffUnchanged(h *harness) {
	cc, ok := h.changeChecker()
	if !ok {
		return
	}
	assert.False(h.t, h.changed(cc, h.sh("true")), "a container that ran true")
	assert.False(h.t, h.changed(cc, h.sh("cat /etc/passwd >/dev/null; ls / ; echo out; echo err >&2")), "a container that read files and wrote its output")
	spec := h.sh("pwd")
	spec.WorkingDir, spec.Env = "/", []string{"A=1"}
	assert.False(h.t, h.changed(cc, spec), "a container with a working directory and environment")
	if !h.info.Has(runtime.CapCommit) {
		return
	}
	c, _ := h.mustSucceed(h.sh("mkdir -p /work && echo one > /work/f"))
	ref := h.ref("diffbase")
	h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: h.labels()})
	spec = h.sh("cat /work/f")
	spec.Image = ref
	assert.False(h.t, h.changed(cc, spec), "a container of a committed image that only read it")
	spec = h.sh("echo two > /work/f")
	spec.Image = ref
	assert.True(h.t, h.changed(cc, spec), "a container of a committed image that rewrote its file")
}

// testDiffChanges: a file added, a file changed, a file removed, a
// directory made, a file touched: each is a change.
func testDiffChanges(h *harness) {
	cc, ok := h.changeChecker()
	if !ok {
		return
	}
	for _, script := range []string{
		"echo x > /tmp/added",
		"mkdir /added-dir",
		"echo x >> /etc/passwd",
		"rm /etc/passwd",
	} {
		assert.True(h.t, h.changed(cc, h.sh(script)), "a container that ran %q", script)
	}
}

// testDiffRunning: a running container cannot be judged.
func testDiffRunning(h *harness) {
	cc, ok := h.changeChecker()
	if !ok {
		return
	}
	c := h.run(h.sh("echo started; sleep 600"))
	h.waitOutput(c.ID, "started\n")
	_, err := cc.Changed(h.ctx, c.ID)
	h.expect("Changed of a running container", err, runtime.ErrFailedPrecondition)
}

// testDiffNotFound: an unknown container.
func testDiffNotFound(h *harness) {
	cc, ok := h.changeChecker()
	if !ok {
		return
	}
	_, err := cc.Changed(h.ctx, "berth-no-such-container-0000")
	h.expect("Changed of an unknown container", err, runtime.ErrNotFound)
}
