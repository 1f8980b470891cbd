package runtimetest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

const (
	// caseTimeout bounds one case; slow engines run twenty containers in
	// one case.
	caseTimeout = 3 * time.Minute
	// cleanupTimeout bounds the clean-up of one object.
	cleanupTimeout = time.Minute
	// pollInterval is how often the suite polls for output.
	pollInterval = 50 * time.Millisecond
)

// harness is one case's state: its runtime, context, label and base image,
// with helpers that fail the case on error and clean up what they create.
type harness struct {
	t     *testing.T
	rt    runtime.Runtime
	info  runtime.Info
	ctx   context.Context
	id    string        // unique per case: the value of LabelKey
	base  string        // reference of the base image
	image runtime.Image // the base image as inspected
	bb    []byte        // Config.Busybox
	// registry is Config.Registry, else the environment's RegistryEnv.
	registry string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, id: randomID(), bb: cfg.Busybox, registry: cmp.Or(cfg.Registry, os.Getenv(RegistryEnv))}
	h.rt = cfg.New(t)
	require.NotNil(t, h.rt, "runtimetest: Config.New returned nil")
	info, err := h.rt.Info(ctx)
	require.NoError(t, err, "Info")
	h.info = info
	h.base = cfg.BaseImage
	if h.base == "" {
		h.base = h.loadBase()
	}
	h.image = h.inspectImage(h.base)
	return h
}

// loadBase loads this case's own copy of the test image.
func (h *harness) loadBase() string {
	h.t.Helper()
	require.Contains(h.t, h.info.Capabilities, runtime.CapLoad,
		"runtimetest: Config.BaseImage is empty and driver %q does not declare capability %q: "+
			"set BaseImage to an existing image with busybox, or implement LoadImage", h.info.Name, runtime.CapLoad)
	ref := h.ref("base")
	h.load(testimage.Options{Ref: ref, Labels: map[string]string{BaseLabelKey: h.id}})
	return ref
}

// load loads a test image and removes it at clean-up.
func (h *harness) load(opts testimage.Options) []runtime.Image {
	h.t.Helper()
	tarball := h.tar(opts)
	h.cleanupImage(opts.Ref)
	imgs, err := h.rt.LoadImage(h.ctx, bytes.NewReader(tarball))
	require.NoError(h.t, err, "LoadImage(%s)", opts.Ref)
	return imgs
}

// tar returns a test image with the busybox of Config.Busybox.
func (h *harness) tar(opts testimage.Options) []byte {
	h.t.Helper()
	opts.Busybox = h.bb
	tarball, err := testimage.Tar(opts)
	require.NoError(h.t, err, "testimage.Tar(%s)", opts.Ref)
	return tarball
}

// randomID returns 12 random hex digits.
func randomID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ref returns a fresh image reference unique to this case.
func (h *harness) ref(name string) string {
	return fmt.Sprintf("berth-test/%s-%s:%s", name, h.id, randomID()[:6])
}

// name returns a fresh container name unique to this case.
func (h *harness) name(name string) string {
	return fmt.Sprintf("berth-test-%s-%s-%s", name, h.id, randomID()[:6])
}

// labels returns the case label plus extra key=value pairs.
func (h *harness) labels(kv ...string) map[string]string {
	l := map[string]string{LabelKey: h.id}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// spec returns a spec of the base image running cmd, labelled for the case.
func (h *harness) spec(cmd ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{Image: h.base, Cmd: cmd, Labels: h.labels()}
}

// sh returns a spec of the base image running script with sh -c.
func (h *harness) sh(script string) runtime.ContainerSpec {
	return h.spec("sh", "-c", script)
}

// tryRun runs spec and, if the container was made, removes it at clean-up.
// It is safe to call from several goroutines.
func (h *harness) tryRun(spec runtime.ContainerSpec) (runtime.Container, error) {
	c, err := h.rt.Run(h.ctx, spec)
	if err != nil {
		return c, err
	}
	if c.ID == "" {
		return c, errors.New("Run returned a container without ID")
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := h.rt.Remove(ctx, c.ID); !errors.Is(err, runtime.ErrNotFound) {
			assert.NoError(h.t, err, "clean-up: Remove(%s)", c.ID)
		}
	})
	return c, nil
}

// run runs spec and fails the case on error.
func (h *harness) run(spec runtime.ContainerSpec) runtime.Container {
	h.t.Helper()
	c, err := h.tryRun(spec)
	require.NoError(h.t, err, "Run(%q)", spec.Cmd)
	return c
}

// wait waits for the container and fails the case on error.
func (h *harness) wait(id string) runtime.ExitStatus {
	h.t.Helper()
	st, err := h.rt.Wait(h.ctx, id)
	require.NoError(h.t, err, "Wait(%s)", id)
	return st
}

// runToEnd runs spec, waits for it and returns its status and output.
func (h *harness) runToEnd(spec runtime.ContainerSpec) (st runtime.ExitStatus, stdout, stderr string) {
	h.t.Helper()
	c := h.run(spec)
	st = h.wait(c.ID)
	stdout, stderr = h.logs(c.ID)
	return st, stdout, stderr
}

// mustSucceed runs spec to its end and fails the case unless it exits 0.
func (h *harness) mustSucceed(spec runtime.ContainerSpec) (runtime.Container, string) {
	h.t.Helper()
	c := h.run(spec)
	st := h.wait(c.ID)
	stdout, stderr := h.logs(c.ID)
	require.Equal(h.t, 0, st.ExitCode, "exit code of %q (stdout %q, stderr %q)", spec.Cmd, stdout, stderr)
	return c, stdout
}

// logs returns the container's whole output (Logs with Follow).
func (h *harness) logs(id string) (stdout, stderr string) {
	h.t.Helper()
	stdout, stderr, err := h.tryLogs(h.ctx, id, true)
	require.NoError(h.t, err, "Logs(%s)", id)
	return stdout, stderr
}

// tryLogs returns the output Logs copies.
func (h *harness) tryLogs(ctx context.Context, id string, follow bool) (stdout, stderr string, err error) {
	var o, e syncBuffer
	err = h.rt.Logs(ctx, id, runtime.LogOptions{Follow: follow}, &o, &e)
	return o.String(), e.String(), err
}

// waitOutput polls Logs (without Follow) until stdout contains want, so a
// case can act once a script has reached a point. It waits until the case's
// deadline; an error from Logs fails the case at once.
func (h *harness) waitOutput(id, want string) {
	h.t.Helper()
	deadline, _ := h.ctx.Deadline()
	var logsErr error
	require.EventuallyWithT(h.t, func(c *assert.CollectT) {
		stdout, _, err := h.tryLogs(h.ctx, id, false)
		if err != nil {
			logsErr = err // not worth waiting on: fails the case below
			return
		}
		assert.Contains(c, stdout, want, "stdout of container %s so far", id)
	}, time.Until(deadline), pollInterval, "container %s printing %q", id, want)
	require.NoError(h.t, logsErr, "Logs(%s) while waiting for %q", id, want)
}

// inspectImage inspects ref and fails the case on error.
func (h *harness) inspectImage(ref string) runtime.Image {
	h.t.Helper()
	img, err := h.rt.InspectImage(h.ctx, ref)
	require.NoError(h.t, err, "InspectImage(%s)", ref)
	return img
}

// inspect inspects the container and fails the case on error.
func (h *harness) inspect(id string) runtime.Container {
	h.t.Helper()
	c, err := h.rt.InspectContainer(h.ctx, id)
	require.NoError(h.t, err, "InspectContainer(%s)", id)
	return c
}

// cleanupImage removes ref at clean-up unless the case already did.
func (h *harness) cleanupImage(ref string) {
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := h.rt.RemoveImage(ctx, ref); !errors.Is(err, runtime.ErrNotFound) {
			assert.NoError(h.t, err, "clean-up: RemoveImage(%s)", ref)
		}
	})
}

// commit commits the container, adding the case label, and removes the
// image at clean-up.
func (h *harness) commit(id string, opts runtime.CommitOptions) runtime.Image {
	h.t.Helper()
	labels := h.labels()
	maps.Copy(labels, opts.Labels)
	opts.Labels = labels
	h.cleanupImage(opts.Ref)
	img, err := h.rt.Commit(h.ctx, id, opts)
	require.NoError(h.t, err, "Commit(%s, %s)", id, opts.Ref)
	return img
}

// needs reports whether the driver declares c; if not, it logs why the
// rest of the case is skipped.
func (h *harness) needs(c runtime.Capability) bool {
	if h.info.Has(c) {
		return true
	}
	h.t.Logf("driver %q does not declare %q", h.info.Name, c)
	return false
}

// expect fails the case unless err belongs to class want.
func (h *harness) expect(op string, err, want error) {
	h.t.Helper()
	assert.ErrorIs(h.t, err, want, "%s: error of class %v, want class %v", op, runtime.ClassOf(err), want)
}

// ids returns the IDs of the containers, sorted as given.
func ids(cs []runtime.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
