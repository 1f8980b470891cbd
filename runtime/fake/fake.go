package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Name is the driver name the fake reports in Info.
const Name = "fake"

// Version is the fake's version, reported in Info.
const Version = "0.1.0"

// Runtime is the fake runtime. It implements runtime.Runtime and is safe
// for concurrent use.
type Runtime struct {
	cfg    *config
	faults faultSet

	mu      sync.Mutex
	st      *state
	disk    *disk // nil when in memory
	initErr error
	stale   bool // the state in memory may not match the disk
	blobs   map[string]*layer
	flats   map[string]map[string]*file // chain ID -> file system
	tasks   map[string]*task            // containers running in this process
	closed  bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a fake runtime. Without WithStateDir it keeps everything in
// memory. If the state dir cannot be used, every method returns an error
// wrapping runtime.ErrUnavailable.
func New(opts ...Option) *Runtime {
	cfg := defaultConfig()
	for _, o := range opts {
		o(cfg)
	}
	r := &Runtime{
		cfg:   cfg,
		st:    newState(),
		blobs: map[string]*layer{},
		flats: map[string]map[string]*file{},
		tasks: map[string]*task{},
	}
	r.faults.faults = slices.Clone(cfg.faults)
	if cfg.stateDir != "" {
		d, err := openDisk(cfg.stateDir)
		if err != nil {
			r.initErr = fmt.Errorf("fake: state dir %s: %v: %w", cfg.stateDir, err, runtime.ErrUnavailable)
		}
		r.disk = d
		r.stale = true
	}
	return r
}

// Close kills the containers this Runtime runs (they exit with 137) and
// waits for them. With a state dir, other processes then see them exited.
// The Runtime stays usable.
func (r *Runtime) Close() error {
	r.mu.Lock()
	tasks := slices.Collect(maps.Values(r.tasks))
	r.mu.Unlock()
	for _, t := range tasks {
		t.kill()
	}
	for _, t := range tasks {
		<-t.done
	}
	return nil
}

func (r *Runtime) has(c runtime.Capability) bool {
	if c == runtime.CapSquash && !slices.Contains(r.cfg.caps, runtime.CapCommit) {
		return false
	}
	return slices.Contains(r.cfg.caps, c)
}

func (r *Runtime) need(c runtime.Capability) error {
	if !r.has(c) {
		return fmt.Errorf("fake: capability %q not declared: %w", c, runtime.ErrNotImplemented)
	}
	return nil
}

// Info describes the fake.
func (r *Runtime) Info(ctx context.Context) (runtime.Info, error) {
	return call(ctx, r, OpInfo, func() (runtime.Info, error) {
		var caps []runtime.Capability
		for _, c := range AllCapabilities {
			if r.has(c) {
				caps = append(caps, c)
			}
		}
		return runtime.Info{
			Name: Name, Version: Version, EngineVersion: "fake-" + Version,
			ProtocolVersion: runtime.ProtocolVersion, Capabilities: caps,
		}, nil
	})
}

// Ping returns nil, unless the state dir is unusable.
func (r *Runtime) Ping(ctx context.Context) error {
	_, err := call(ctx, r, OpPing, func() (struct{}, error) {
		return struct{}{}, r.view(func(*state) error { return nil })
	})
	return err
}

// view runs fn on the current state, read-only.
func (r *Runtime) view(fn func(st *state) error) error {
	return r.access(false, fn)
}

// update runs fn on the current state and saves what it changed. fn must
// check before it changes anything: an error leaves the state as it was.
func (r *Runtime) update(fn func(st *state) error) error {
	return r.access(true, fn)
}

func (r *Runtime) access(write bool, fn func(st *state) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.initErr != nil {
		return r.initErr
	}
	if r.disk == nil {
		return fn(r.st)
	}
	if err := r.disk.acquire(write); err != nil {
		return fmt.Errorf("fake: lock state: %v: %w", err, runtime.ErrUnavailable)
	}
	defer r.disk.release()
	if err := r.refresh(); err != nil {
		return err
	}
	err := fn(r.st)
	if err != nil {
		r.stale = true
		return err
	}
	if write {
		if err := r.disk.save(r.st); err != nil {
			r.stale = true
			return fmt.Errorf("fake: save state: %v: %w", err, runtime.ErrUnavailable)
		}
	}
	return nil
}

// refresh reloads the state from disk if another writer changed it.
func (r *Runtime) refresh() error {
	tok, err := r.disk.current()
	if err != nil {
		return fmt.Errorf("fake: read state: %v: %w", err, runtime.ErrUnavailable)
	}
	if !r.stale && tok == r.disk.token {
		return nil
	}
	st, err := r.disk.load()
	if err != nil {
		return fmt.Errorf("fake: read state: %v: %w", err, runtime.ErrUnavailable)
	}
	r.st, r.disk.token, r.stale = st, tok, false
	return nil
}

// putBlob stores layer l and returns its diff ID. Call inside update.
func (r *Runtime) putBlob(l *layer) (string, error) {
	raw, err := l.encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	id := "sha256:" + hex.EncodeToString(sum[:])
	return id, r.putBlobAs(id, l, raw)
}

// putBlobAs stores layer l, encoded as raw, as id.
func (r *Runtime) putBlobAs(id string, l *layer, raw []byte) error {
	if r.disk != nil {
		if err := r.disk.putBlob(id, raw); err != nil {
			return fmt.Errorf("fake: write layer: %v: %w", err, runtime.ErrUnavailable)
		}
	}
	r.blobs[id] = l
	return nil
}

// blob returns the layer stored as id. Call inside view or update.
func (r *Runtime) blob(id string) (*layer, error) {
	if l := r.blobs[id]; l != nil {
		return l, nil
	}
	if r.disk == nil {
		return nil, fmt.Errorf("fake: layer %s missing: %w", id, runtime.ErrNotFound)
	}
	l, err := r.disk.getBlob(id)
	if err != nil {
		return nil, fmt.Errorf("fake: read layer %s: %v: %w", id, err, runtime.ErrUnavailable)
	}
	r.blobs[id] = l
	return l, nil
}

// flat returns the file system of the layer chain top ("" is empty). The
// map is shared: do not modify it. Call inside view or update.
func (r *Runtime) flat(st *state, top string) (map[string]*file, error) {
	if top == "" {
		return map[string]*file{}, nil
	}
	if m := r.flats[top]; m != nil {
		return m, nil
	}
	rec := st.Layers[top]
	if rec == nil {
		return nil, fmt.Errorf("fake: layer %s missing: %w", top, runtime.ErrNotFound)
	}
	below, err := r.flat(st, rec.Parent)
	if err != nil {
		return nil, err
	}
	l, err := r.blob(rec.Diff)
	if err != nil {
		return nil, err
	}
	m := maps.Clone(below)
	if m == nil {
		m = map[string]*file{}
	}
	apply(m, l)
	r.flats[top] = m
	return m, nil
}

// addLayer records layer diff (already stored, size bytes) on top of
// parent and returns its chain ID.
func addLayer(st *state, parent, diff string, size int64) string {
	id := chainID(parent, diff)
	if st.Layers[id] != nil {
		return id
	}
	st.changedImages()
	rec := &layerRec{Parent: parent, Diff: diff, Depth: 1, Size: size}
	if p := st.Layers[parent]; p != nil {
		rec.Depth += p.Depth
		rec.Size += p.Size
	}
	st.Layers[id] = rec
	return id
}

// gc forgets the layers no image uses, and deletes the blobs of those
// layers and the blobs in maybe (uppers of removed containers) that nothing
// uses. Call inside update.
func (r *Runtime) gc(st *state, maybe ...string) {
	usedLayers := map[string]bool{}
	usedBlobs := map[string]bool{}
	for _, img := range st.Images {
		for id := img.Top; id != "" && !usedLayers[id]; {
			usedLayers[id] = true
			rec := st.Layers[id]
			if rec == nil {
				break
			}
			id = rec.Parent
		}
	}
	for id, rec := range st.Layers {
		if usedLayers[id] {
			usedBlobs[rec.Diff] = true
			continue
		}
		st.changedImages()
		delete(st.Layers, id)
		delete(r.flats, id)
		maybe = append(maybe, rec.Diff)
	}
	for _, c := range st.Containers {
		usedBlobs[c.Upper] = true
	}
	for _, id := range maybe {
		if id == "" || usedBlobs[id] {
			continue
		}
		delete(r.blobs, id)
		if r.disk != nil {
			r.disk.removeBlob(id)
		}
	}
}

// newID returns a deterministic 64-hex-digit ID for the kind and number.
func newID(kind string, n uint64, extra ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "fake %s %d", kind, n)
	for _, e := range extra {
		h.Write([]byte{0})
		h.Write([]byte(e))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// errCtx wraps ctx's error for an abandoned call.
func errCtx(ctx context.Context, what string) error {
	return fmt.Errorf("fake: %s: %w", what, ctx.Err())
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errGone = errors.New("gone")
