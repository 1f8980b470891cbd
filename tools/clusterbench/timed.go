package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// engineTime is the time a job spent in the runtime's calls: what the
// engine (here the fake) does, as opposed to what berth does around it.
// It rides in the job's context (withEngineTime), which the core passes to
// every runtime call it makes for the job, its clean-up's included.
//
// It also holds the time of the registry requests the core makes itself
// (deleting the generation a commit replaced), which are berth's doing,
// not the engine's, but the registry's work: see timeRegistryRequests.
type engineTime struct {
	all      atomic.Int64 // every call but Logs (which runs beside Wait)
	pull     atomic.Int64 // PullDigest
	push     atomic.Int64 // PushImage
	registry atomic.Int64 // the core's own registry requests, first byte of the answer
}

type (
	engineTimeKey struct{}
	inEngineKey   struct{}
)

func withEngineTime(ctx context.Context, t *engineTime) context.Context {
	return context.WithValue(ctx, engineTimeKey{}, t)
}

// timeRegistryRequests makes the connections of http.DefaultTransport (and
// of its clones, made after: the core clones it for each deletion from the
// registry) add the time of each request, from its first byte sent to the
// first byte of its answer, to the engineTime of the context they are
// dialed in (net/http dials with the request's context values), unless
// that is a runtime call's. The fake's own requests go through
// go-containerregistry's transport, which this leaves alone.
func timeRegistryRequests() {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		et, ok := ctx.Value(engineTimeKey{}).(*engineTime)
		if err != nil || !ok || ctx.Value(inEngineKey{}) != nil {
			return conn, err
		}
		return &timedConn{Conn: conn, et: et}, nil
	}
}

// timedConn adds the time from the first byte of each request written to
// the first byte read after it to et.registry.
type timedConn struct {
	net.Conn
	et   *engineTime
	mu   sync.Mutex
	sent time.Time // the request's first byte, zero once answered
}

func (c *timedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.sent.IsZero() {
		c.sent = time.Now()
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *timedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.sent.IsZero() {
			c.et.registry.Add(int64(time.Since(c.sent)))
			c.sent = time.Time{}
		}
		c.mu.Unlock()
	}
	return n, err
}

// timedRuntime is a runtime.Runtime (with the optional RegistryClient,
// ChangeChecker and ImageCopier of the one it wraps) that adds the time of
// each call to the engineTime of the call's context, if any.
type timedRuntime struct {
	rt runtime.Runtime
}

var (
	_ runtime.Runtime        = timedRuntime{}
	_ runtime.RegistryClient = timedRuntime{}
	_ runtime.ChangeChecker  = timedRuntime{}
	_ runtime.ImageCopier    = timedRuntime{}
)

// timed runs f and adds its duration to ctx's engineTime (and to the
// counter part picks, if any).
func timed[T any](ctx context.Context, part func(*engineTime) *atomic.Int64, f func(context.Context) (T, error)) (T, error) {
	t0 := time.Now()
	v, err := f(context.WithValue(ctx, inEngineKey{}, true))
	if et, ok := ctx.Value(engineTimeKey{}).(*engineTime); ok {
		d := int64(time.Since(t0))
		et.all.Add(d)
		if part != nil {
			part(et).Add(d)
		}
	}
	return v, err
}

func timed0(ctx context.Context, f func(context.Context) error) error {
	_, err := timed(ctx, nil, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

func (t timedRuntime) Info(ctx context.Context) (runtime.Info, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.Info, error) { return t.rt.Info(ctx) })
}

func (t timedRuntime) Ping(ctx context.Context) error {
	return timed0(ctx, func(ctx context.Context) error { return t.rt.Ping(ctx) })
}

func (t timedRuntime) InspectImage(ctx context.Context, ref string) (runtime.Image, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.Image, error) { return t.rt.InspectImage(ctx, ref) })
}

func (t timedRuntime) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.Image, error) { return t.rt.PullImage(ctx, ref) })
}

func (t timedRuntime) LoadImage(ctx context.Context, r io.Reader) ([]runtime.Image, error) {
	return timed(ctx, nil, func(ctx context.Context) ([]runtime.Image, error) { return t.rt.LoadImage(ctx, r) })
}

func (t timedRuntime) RemoveImage(ctx context.Context, ref string) error {
	return timed0(ctx, func(ctx context.Context) error { return t.rt.RemoveImage(ctx, ref) })
}

func (t timedRuntime) ListImages(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Image, error) {
	return timed(ctx, nil, func(ctx context.Context) ([]runtime.Image, error) { return t.rt.ListImages(ctx, filter) })
}

func (t timedRuntime) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.Container, error) { return t.rt.Run(ctx, spec) })
}

func (t timedRuntime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.ExitStatus, error) { return t.rt.Wait(ctx, id) })
}

func (t timedRuntime) Stop(ctx context.Context, id string, opts runtime.StopOptions) error {
	return timed0(ctx, func(ctx context.Context) error { return t.rt.Stop(ctx, id, opts) })
}

// Logs is not timed: the core follows the output beside Wait, whose time
// counts already.
func (t timedRuntime) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	return t.rt.Logs(ctx, id, opts, stdout, stderr)
}

func (t timedRuntime) Commit(ctx context.Context, id string, opts runtime.CommitOptions) (runtime.Image, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.Image, error) { return t.rt.Commit(ctx, id, opts) })
}

func (t timedRuntime) Remove(ctx context.Context, id string) error {
	return timed0(ctx, func(ctx context.Context) error { return t.rt.Remove(ctx, id) })
}

func (t timedRuntime) InspectContainer(ctx context.Context, id string) (runtime.Container, error) {
	return timed(ctx, nil, func(ctx context.Context) (runtime.Container, error) { return t.rt.InspectContainer(ctx, id) })
}

func (t timedRuntime) ListContainers(ctx context.Context, filter runtime.LabelFilter) ([]runtime.Container, error) {
	return timed(ctx, nil, func(ctx context.Context) ([]runtime.Container, error) { return t.rt.ListContainers(ctx, filter) })
}

func (t timedRuntime) PushImage(ctx context.Context, ref, dest string, opts runtime.RegistryOptions) (string, error) {
	rc, ok := t.rt.(runtime.RegistryClient)
	if !ok {
		return "", runtime.ErrNotImplemented
	}
	return timed(ctx, func(e *engineTime) *atomic.Int64 { return &e.push },
		func(ctx context.Context) (string, error) { return rc.PushImage(ctx, ref, dest, opts) })
}

func (t timedRuntime) PullDigest(ctx context.Context, src string, opts runtime.RegistryOptions) (runtime.Image, error) {
	rc, ok := t.rt.(runtime.RegistryClient)
	if !ok {
		return runtime.Image{}, runtime.ErrNotImplemented
	}
	return timed(ctx, func(e *engineTime) *atomic.Int64 { return &e.pull },
		func(ctx context.Context) (runtime.Image, error) { return rc.PullDigest(ctx, src, opts) })
}

func (t timedRuntime) Changed(ctx context.Context, id string) (bool, error) {
	cc, ok := t.rt.(runtime.ChangeChecker)
	if !ok {
		return true, runtime.ErrNotImplemented
	}
	return timed(ctx, nil, func(ctx context.Context) (bool, error) { return cc.Changed(ctx, id) })
}

func (t timedRuntime) CopyImage(ctx context.Context, src string, opts runtime.CopyOptions) (runtime.Image, error) {
	cp, ok := t.rt.(runtime.ImageCopier)
	if !ok {
		return runtime.Image{}, runtime.ErrNotImplemented
	}
	return timed(ctx, nil, func(ctx context.Context) (runtime.Image, error) { return cp.CopyImage(ctx, src, opts) })
}
