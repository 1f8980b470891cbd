// Package memdriver is a minimal in-memory runtime.Runtime for the tests and
// benchmarks of package wire: enough to run, wait for, stop, log and remove
// containers and to load images. It is not the project's fake (runtime/fake).
//
// Containers run no processes. Cmd ["block", args...] prints args (if any)
// to stdout and runs until stopped or removed; ["echo", args...] prints args
// to stdout and exits 0; ["fail", msg] prints msg to
// stderr and exits 1; anything else exits 0 at once.
package memdriver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// BaseImage is the image every Runtime starts with.
const BaseImage = "mem:base"

// Runtime is the in-memory driver.
type Runtime struct {
	// Version is reported by Info.
	Version string
	// Log, if set, is called by Ping with a message and attributes.
	Log func(msg string, args ...any)

	mu         sync.Mutex
	images     map[string]runtime.Image // by ref
	containers map[string]*container    // by ID
	next       int
}

type container struct {
	c      runtime.Container
	done   chan struct{}
	status runtime.ExitStatus
	out    [2][]byte // stdout, stderr
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a Runtime holding BaseImage.
func New(version string) *Runtime {
	return &Runtime{
		Version:    version,
		images:     map[string]runtime.Image{BaseImage: {ID: "sha256:base", Refs: []string{BaseImage}}},
		containers: map[string]*container{},
	}
}

// Info implements runtime.Runtime.
func (r *Runtime) Info(context.Context) (runtime.Info, error) {
	return runtime.Info{
		Name:            "memdriver",
		Version:         r.Version,
		ProtocolVersion: runtime.ProtocolVersion,
		Capabilities:    []runtime.Capability{runtime.CapLoad},
	}, nil
}

// Ping implements runtime.Runtime.
func (r *Runtime) Ping(context.Context) error {
	if r.Log != nil {
		r.Log("memdriver ping", "version", r.Version)
	}
	return nil
}

// InspectImage implements runtime.Runtime.
func (r *Runtime) InspectImage(_ context.Context, ref string) (runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	img, ok := r.images[ref]
	if !ok {
		return runtime.Image{}, fmt.Errorf("image %q: %w", ref, runtime.ErrNotFound)
	}
	return img, nil
}

// PullImage implements runtime.Runtime: not supported.
func (r *Runtime) PullImage(context.Context, string) (runtime.Image, error) {
	return runtime.Image{}, fmt.Errorf("pull: %w", runtime.ErrNotImplemented)
}

// LoadImage implements runtime.Runtime: the whole stream becomes one image,
// "loaded:latest", whose ID is the stream's SHA-256 and Size its length.
func (r *Runtime) LoadImage(ctx context.Context, rd io.Reader) ([]runtime.Image, error) {
	h := sha256.New()
	n, err := io.Copy(h, rd)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	img := runtime.Image{ID: "sha256:" + hex.EncodeToString(h.Sum(nil)), Refs: []string{"loaded:latest"}, Size: n}
	r.mu.Lock()
	r.images["loaded:latest"] = img
	r.mu.Unlock()
	return []runtime.Image{img}, nil
}

// RemoveImage implements runtime.Runtime.
func (r *Runtime) RemoveImage(_ context.Context, ref string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.images[ref]; !ok {
		return fmt.Errorf("image %q: %w", ref, runtime.ErrNotFound)
	}
	delete(r.images, ref)
	return nil
}

// ListImages implements runtime.Runtime.
func (r *Runtime) ListImages(_ context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Image
	for _, img := range r.images {
		if filter.Match(img.Labels) {
			out = append(out, img)
		}
	}
	return out, nil
}

// Run implements runtime.Runtime.
func (r *Runtime) Run(_ context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	if spec.Image == "" {
		return runtime.Container{}, fmt.Errorf("run: no image: %w", runtime.ErrInvalidArgument)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.images[spec.Image]; !ok {
		return runtime.Container{}, fmt.Errorf("run: image %q: %w", spec.Image, runtime.ErrNotFound)
	}
	for _, c := range r.containers {
		if spec.Name != "" && c.c.Name == spec.Name {
			return runtime.Container{}, fmt.Errorf("run: name %q: %w", spec.Name, runtime.ErrAlreadyExists)
		}
	}
	r.next++
	id := "c" + strconv.Itoa(r.next)
	c := &container{
		c: runtime.Container{ID: id, Name: spec.Name, Image: spec.Image, Labels: spec.Labels,
			State: runtime.StateRunning, Created: time.Now()},
		done: make(chan struct{}),
	}
	r.containers[id] = c
	switch {
	case len(spec.Cmd) > 1 && spec.Cmd[0] == "block":
		c.out[0] = []byte(strings.Join(spec.Cmd[1:], " ") + "\n")
		return c.c, nil
	case len(spec.Cmd) > 0 && spec.Cmd[0] == "block":
		return c.c, nil
	case len(spec.Cmd) > 0 && spec.Cmd[0] == "echo":
		c.out[0] = []byte(strings.Join(spec.Cmd[1:], " ") + "\n")
	case len(spec.Cmd) > 0 && spec.Cmd[0] == "fail":
		c.out[1] = []byte(strings.Join(spec.Cmd[1:], " ") + "\n")
		c.status.ExitCode = 1
	}
	c.exit(c.status.ExitCode)
	return c.c, nil
}

// exit ends the container with code; r.mu must be held.
func (c *container) exit(code int) {
	select {
	case <-c.done:
		return
	default:
	}
	c.status.ExitCode = code
	c.c.State = runtime.StateExited
	close(c.done)
}

func (r *Runtime) get(id string) (*container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

// Wait implements runtime.Runtime.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	c, err := r.get(id)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return runtime.ExitStatus{}, fmt.Errorf("wait %s: %w", id, ctx.Err())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return c.status, nil
}

// Stop implements runtime.Runtime: the container exits with 143 at once.
func (r *Runtime) Stop(_ context.Context, id string, _ runtime.StopOptions) error {
	c, err := r.get(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c.exit(143)
	return nil
}

// Logs implements runtime.Runtime: stdout, then stderr; with opts.Follow it
// then waits for the exit (the output is all written at the start).
func (r *Runtime) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	c, err := r.get(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	out := c.out
	r.mu.Unlock()
	if _, err := stdout.Write(out[0]); err != nil {
		return err
	}
	if _, err := stderr.Write(out[1]); err != nil {
		return err
	}
	if opts.Follow {
		select {
		case <-c.done:
		case <-ctx.Done():
			return fmt.Errorf("logs %s: %w", id, ctx.Err())
		}
	}
	return nil
}

// Commit implements runtime.Runtime: not supported.
func (r *Runtime) Commit(context.Context, string, runtime.CommitOptions) (runtime.Image, error) {
	return runtime.Image{}, fmt.Errorf("commit: %w", runtime.ErrNotImplemented)
}

// Remove implements runtime.Runtime.
func (r *Runtime) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return fmt.Errorf("container %q: %w", id, runtime.ErrNotFound)
	}
	c.exit(137)
	delete(r.containers, id)
	return nil
}

// InspectContainer implements runtime.Runtime.
func (r *Runtime) InspectContainer(_ context.Context, id string) (runtime.Container, error) {
	c, err := r.get(id)
	if err != nil {
		return runtime.Container{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return c.c, nil
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(_ context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Container
	for _, c := range r.containers {
		if filter.Match(c.c.Labels) {
			out = append(out, c.c)
		}
	}
	return out, nil
}
