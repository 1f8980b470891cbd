package runtimetest

import (
	"errors"
	"slices"
	"strings"
	"time"

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
	if img.ID == "" || img.Size <= 0 || img.Layers < 1 {
		h.t.Errorf("Commit returned ID %q Size %d Layers %d; want all set", img.ID, img.Size, img.Layers)
	}
	got := h.inspectImage(ref)
	if got.ID != img.ID || got.Layers != img.Layers {
		h.t.Errorf("InspectImage = ID %q Layers %d, Commit returned ID %q Layers %d", got.ID, got.Layers, img.ID, img.Layers)
	}
	if !slices.Contains(got.Refs, ref) {
		h.t.Errorf("committed image refs %v lack %s", got.Refs, ref)
	}
	for k, v := range h.labels("io.berth.test.kind", "files") {
		if got.Labels[k] != v {
			h.t.Errorf("committed image label %s = %q, want %q (labels %v)", k, got.Labels[k], v, got.Labels)
		}
	}
	if got.Created.IsZero() {
		h.t.Error("committed image has no Created time")
	}
	spec := h.spec("cat", "/work/f")
	spec.Image = ref
	if _, stdout := h.mustSucceed(spec); stdout != "committed-content\n" {
		h.t.Errorf("committed image: cat /work/f = %q, want %q", stdout, "committed-content\n")
	}
	// The source container is unchanged by the commit.
	if st := h.wait(c.ID); st.ExitCode != 0 {
		h.t.Errorf("source container exit code after commit = %d", st.ExitCode)
	}
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
		if img.Layers != layers {
			h.t.Errorf("commit %d: Layers = %d, want %d", i+1, img.Layers, layers)
		}
		if got := h.inspectImage(from).Layers; got != layers {
			h.t.Errorf("commit %d: InspectImage Layers = %d, want %d", i+1, got, layers)
		}
	}
	spec := h.sh("cat /work/g1 /work/g2 /work/g3; test -e /work/doomed && echo doomed-back")
	spec.Image = from
	st, stdout, stderr := h.runToEnd(spec)
	if want := "one\ntwo\nthree\n"; stdout != want {
		h.t.Errorf("third generation sees %q (stderr %q, exit %d), want %q", stdout, stderr, st.ExitCode, want)
	}
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
	for _, want := range []string{"KEEP=kept", "A=changed", "NEW=1"} {
		if !slices.Contains(img.Env, want) {
			h.t.Errorf("committed Env %q lacks %q", img.Env, want)
		}
	}
	if slices.Contains(img.Env, "A=orig") {
		h.t.Errorf("committed Env %q keeps A=orig after the change", img.Env)
	}
	run := h.spec() // no Cmd: the image's
	run.Image = ref
	if _, stdout := h.mustSucceed(run); stdout != "kept changed 1\n/work/wd\n" {
		h.t.Errorf("committed Cmd printed %q, want %q", stdout, "kept changed 1\n/work/wd\n")
	}
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
	if stdout != "secret-seen\nvisible\n" {
		h.t.Fatalf("container printed %q, want the secret seen and PLAIN", stdout)
	}
	ref := h.ref("secret")
	img := h.commit(c.ID, runtime.CommitOptions{Ref: ref, Labels: map[string]string{"io.berth.test.kind": "secret"}})
	for _, got := range []runtime.Image{img, h.inspectImage(ref)} {
		if !slices.Contains(got.Env, "PLAIN=visible") {
			h.t.Errorf("committed Env %q lacks PLAIN=visible", got.Env)
		}
		for _, kv := range got.Env {
			if strings.Contains(kv, secret) {
				h.t.Errorf("committed Env carries the secret: %q", kv)
			}
			if strings.HasPrefix(kv, "BERTH_SECRET=") {
				h.t.Errorf("committed Env sets the secret's key: %q", kv)
			}
		}
		for k, v := range got.Labels {
			if strings.Contains(k, secret) || strings.Contains(v, secret) {
				h.t.Errorf("committed labels carry the secret: %s=%s", k, v)
			}
		}
	}
	run := h.sh(`echo "[$BERTH_SECRET] $PLAIN"`)
	run.Image = ref
	if _, stdout := h.mustSucceed(run); stdout != "[] visible\n" {
		h.t.Errorf("container of the committed image printed %q, want %q", stdout, "[] visible\n")
	}
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
	if img.Layers != 1 {
		h.t.Errorf("squashed commit: Layers = %d, want 1", img.Layers)
	}
	got := h.inspectImage(ref)
	if got.Layers != 1 || got.Labels["io.berth.test.kind"] != "squash" {
		h.t.Errorf("squashed image: Layers %d labels %v, want 1 layer and the labels", got.Layers, got.Labels)
	}
	run := h.sh("cat /work/a /work/b && echo ok")
	run.Image = ref
	if _, stdout := h.mustSucceed(run); stdout != "a\nb\nok\n" {
		h.t.Errorf("squashed image: %q, want %q", stdout, "a\nb\nok\n")
	}
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
	switch {
	case err == nil:
		spec := h.spec("cat", "/work/r")
		spec.Image = ref
		if _, stdout := h.mustSucceed(spec); stdout != "data\n" {
			h.t.Errorf("image committed from a running container: cat /work/r = %q, want %q", stdout, "data\n")
		}
	case errors.Is(err, runtime.ErrFailedPrecondition):
		h.expectNoImages()
	default:
		h.t.Errorf("Commit of a running container: %v, want success or class %v", err, runtime.ErrFailedPrecondition)
	}
	if got := h.inspect(c.ID).State; got != runtime.StateRunning {
		h.t.Errorf("state after Commit of a running container = %q, want %q", got, runtime.StateRunning)
	}
	if err := h.rt.Stop(h.ctx, c.ID, runtime.StopOptions{Grace: 10 * time.Second}); err != nil {
		h.t.Fatalf("Stop: %v", err)
	}
	if st := h.wait(c.ID); st.ExitCode != 143 && st.ExitCode != 137 {
		h.t.Errorf("exit code after Stop = %d, want 143 or 137", st.ExitCode)
	}
}
