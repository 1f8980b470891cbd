package runtimetest

import (
	"strings"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// commitCases check Commit (CapCommit, CapSquash). A driver without
// CapCommit passes them trivially: testUndeclaredCapabilities checks that
// it refuses.
var commitCases = []testCase{
	{"Files", testCommitFiles},
	{"Layers", testCommitLayers},
	{"Changes", testCommitChanges},
	{"SecretEnv", testCommitSecretEnv},
	{"Squash", testCommitSquash},
	{"EmptyRef", testCommitEmptyRef},
	{"Running", testCommitRunning},
}

// testCommitFiles commits a file and its labels and runs the new image.
func testCommitFiles(h *harness) {
	if !h.needs(runtime.CapCommit) {
		return
	}
	c, _ := h.mustSucceed(h.sh("mkdir -p /work && echo committed-content > /work/f"))
	ref := h.ref("files")
	img := h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: map[string]string{"io.berth.test.kind": "files"}})
	assert.NotEmpty(h.t, img.ID, "ID Commit returned")
	assert.Positive(h.t, img.Size, "Size Commit returned")
	assert.GreaterOrEqual(h.t, img.Layers, 1, "Layers Commit returned")
	got := h.inspectImage(ref)
	assert.Equal(h.t, img.ID, got.ID, "InspectImage(%s).ID, against the ID Commit returned", ref)
	assert.Equal(h.t, img.Layers, got.Layers, "InspectImage(%s).Layers, against the Layers Commit returned", ref)
	assert.Contains(h.t, got.Refs, ref, "refs of the committed image")
	assert.Subset(h.t, got.Labels, h.labels("io.berth.test.kind", "files"), "labels of the committed image")
	assert.False(h.t, got.Created.IsZero(), "committed image has no Created time")
	spec := h.spec("cat", "/work/f")
	spec.Image = ref
	_, stdout := h.mustSucceed(spec)
	assert.Equal(h.t, "committed-content\n", stdout, "committed image: cat /work/f")
	// The source container is unchanged by the commit.
	assert.Equal(h.t, 0, h.wait(c.ID).ExitCode, "source container's exit code after commit")
}

// testCommitLayers checks that each commit adds one layer and that changes
// of every generation survive, deletions included.
func testCommitLayers(h *harness) {
	if !h.needs(runtime.CapCommit) {
		return
	}
	from := h.base
	layers := h.image.Layers
	for i, script := range []string{
		"echo one > /work/g1; echo doomed > /work/doomed",
		"echo two > /work/g2; rm /work/doomed",
		"echo three > /work/g3",
	} {
		spec := h.sh(script)
		spec.Image = from
		c, _ := h.mustSucceed(spec)
		from = h.ref("gen")
		img := h.commit(c.ID, runtime.CommitOptions{Ref: from})
		layers++
		assert.Equal(h.t, layers, img.Layers, "commit %d: Layers Commit returned", i+1)
		assert.Equal(h.t, layers, h.inspectImage(from).Layers, "commit %d: InspectImage(%s).Layers", i+1, from)
	}
	spec := h.sh("cat /work/g1 /work/g2 /work/g3; test -e /work/doomed && echo doomed-back")
	spec.Image = from
	st, stdout, stderr := h.runToEnd(spec)
	assert.Equal(h.t, "one\ntwo\nthree\n", stdout, "what the third generation sees (stderr %q, exit %d)", stderr, st.ExitCode)
}

// testCommitChanges checks ConfigChanges: Env replaced by key, Cmd and
// WorkingDir set.
func testCommitChanges(h *harness) {
	if !h.needs(runtime.CapCommit) {
		return
	}
	spec := h.sh("mkdir -p /work/wd")
	spec.Env = []string{"KEEP=kept", "A=orig"}
	c, _ := h.mustSucceed(spec)
	ref := h.ref("changes")
	h.commit(c.ID, runtime.CommitOptions{Ref: ref, Changes: runtime.ConfigChanges{
		Env:        []string{"A=changed", "NEW=1"},
		Cmd:        []string{"sh", "-c", `echo "$KEEP $A $NEW"; pwd`},
		WorkingDir: "/work/wd",
	}})
	img := h.inspectImage(ref)
	assert.Subset(h.t, img.Env, []string{"KEEP=kept", "A=changed", "NEW=1"}, "committed Env")
	assert.NotContains(h.t, img.Env, "A=orig", "committed Env keeps A=orig after the change")
	run := h.spec() // no Cmd: the image's
	run.Image = ref
	_, stdout := h.mustSucceed(run)
	assert.Equal(h.t, "kept changed 1\n/work/wd\n", stdout, "what the committed Cmd printed")
}

// testCommitSecretEnv checks that SecretEnv reaches the process but no
// committed image carries its value.
func testCommitSecretEnv(h *harness) {
	if !h.needs(runtime.CapCommit) {
		return
	}
	secret := "s3cr3t-" + h.id
	spec := h.sh(`test "$BERTH_SECRET" = "` + secret + `" && echo secret-seen; echo "$PLAIN"`)
	spec.Env = []string{"PLAIN=visible"}
	spec.SecretEnv = []string{"BERTH_SECRET=" + secret}
	c, stdout := h.mustSucceed(spec)
	require.Equal(h.t, "secret-seen\nvisible\n", stdout, "container's output: the secret seen, then PLAIN")
	ref := h.ref("secret")
	img := h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: map[string]string{"io.berth.test.kind": "secret"}})
	for _, got := range []struct {
		from string
		img  runtime.Image
	}{{"Commit", img}, {"InspectImage", h.inspectImage(ref)}} {
		assert.Contains(h.t, got.img.Env, "PLAIN=visible", "committed Env (from %s)", got.from)
		for _, kv := range got.img.Env {
			assert.NotContains(h.t, kv, secret, "committed Env (from %s) carries the secret", got.from)
			assert.False(h.t, strings.HasPrefix(kv, "BERTH_SECRET="), "committed Env (from %s) sets the secret's key: %q", got.from, kv)
		}
		for k, v := range got.img.Labels {
			assert.NotContains(h.t, k, secret, "committed label key (from %s) carries the secret", got.from)
			assert.NotContains(h.t, v, secret, "committed label %s (from %s) carries the secret", k, got.from)
		}
	}
	run := h.sh(`echo "[$BERTH_SECRET] $PLAIN"`)
	run.Image = ref
	_, stdout = h.mustSucceed(run)
	assert.Equal(h.t, "[] visible\n", stdout, "what a container of the committed image printed")
}

// testCommitSquash checks that a squashed commit is one layer holding the
// whole file system.
func testCommitSquash(h *harness) {
	if !h.needs(runtime.CapCommit) || !h.needs(runtime.CapSquash) {
		return // testUndeclaredCapabilities checks the refusal
	}
	c, _ := h.mustSucceed(h.sh("echo a > /work/a"))
	mid := h.ref("squash-mid")
	h.commit(c.ID, runtime.CommitOptions{Ref: mid})
	spec := h.sh("echo b > /work/b")
	spec.Image = mid
	c, _ = h.mustSucceed(spec)
	ref := h.ref("squash")
	img := h.commit(c.ID, runtime.CommitOptions{Ref: ref, Squash: true, Labels: map[string]string{"io.berth.test.kind": "squash"}})
	assert.Equal(h.t, 1, img.Layers, "Layers of the squashed commit")
	got := h.inspectImage(ref)
	assert.Equal(h.t, 1, got.Layers, "InspectImage(%s).Layers of the squashed image", ref)
	assert.Equal(h.t, "squash", got.Labels["io.berth.test.kind"], "label io.berth.test.kind of the squashed image (labels %v)", got.Labels)
	run := h.sh("cat /work/a /work/b && echo ok")
	run.Image = ref
	_, stdout := h.mustSucceed(run)
	assert.Equal(h.t, "a\nb\nok\n", stdout, "squashed image: cat /work/a /work/b")
}

// testCommitEmptyRef checks that Commit requires a reference.
func testCommitEmptyRef(h *harness) {
	if !h.needs(runtime.CapCommit) {
		return
	}
	c, _ := h.mustSucceed(h.spec("true"))
	_, err := h.rt.Commit(h.ctx, c.ID, runtime.CommitOptions{Labels: h.labels()})
	h.expect("Commit with empty Ref", err, runtime.ErrInvalidArgument)
	h.expectNoImages()
}

// testCommitRunning commits a running container: the driver may refuse
// with ErrFailedPrecondition or make the image, but either way the
// container keeps running undisturbed.
func testCommitRunning(h *harness) {
	if !h.needs(runtime.CapCommit) {
		return
	}
	c := h.run(h.sh("echo data > /work/r; echo ready; sleep 30"))
	h.waitOutput(c.ID, "ready")
	ref := h.ref("running")
	h.cleanupImage(ref)
	_, err := h.rt.Commit(h.ctx, c.ID, runtime.CommitOptions{Ref: ref, Labels: h.labels()})
	if err == nil {
		spec := h.spec("cat", "/work/r")
		spec.Image = ref
		_, stdout := h.mustSucceed(spec)
		assert.Equal(h.t, "data\n", stdout, "image committed from a running container: cat /work/r")
	} else if assert.ErrorIs(h.t, err, runtime.ErrFailedPrecondition, "Commit of a running container: want success or class %v", runtime.ErrFailedPrecondition) {
		h.expectNoImages()
	}
	assert.Equal(h.t, runtime.StateRunning, h.inspect(c.ID).State, "state after Commit of a running container")
	require.NoError(h.t, h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: 10 * time.Second}), "Stop(%s)", c.ID)
	assert.Contains(h.t, []int{143, 137}, h.wait(c.ID).ExitCode, "exit code after Stop: 143 or 137")
}
