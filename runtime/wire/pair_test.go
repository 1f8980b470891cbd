package wire_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/runtime/wire"
	"github.com/berth-dev/berth/runtime/wire/testdata/memdriver"
)

// stub is a runtime.Runtime whose methods are set per test; the embedded
// nil interface makes any other call panic.
type stub struct {
	runtime.Runtime
	wait func(ctx context.Context, id string) (runtime.ExitStatus, error)
	logs func(ctx context.Context, id string, stdout, stderr io.Writer) error
	run  func(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error)
	err  error // returned by Ping, InspectImage and LoadImage
}

func (s *stub) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	return s.wait(ctx, id)
}

func (s *stub) Logs(ctx context.Context, id string, _ runtime.LogOptions, stdout, stderr io.Writer) error {
	return s.logs(ctx, id, stdout, stderr)
}

func (s *stub) Run(ctx context.Context, spec runtime.ContainerSpec) (runtime.Container, error) {
	return s.run(ctx, spec)
}

func (s *stub) Ping(context.Context) error { return s.err }

func (s *stub) InspectImage(context.Context, string) (runtime.Image, error) {
	return runtime.Image{}, s.err
}

func (s *stub) LoadImage(_ context.Context, r io.Reader) ([]runtime.Image, error) {
	_, _ = io.Copy(io.Discard, r)
	return nil, s.err
}

func pair(t *testing.T, impl runtime.Runtime) runtime.Runtime {
	t.Helper()
	rt, closePair := wire.Pair(impl)
	t.Cleanup(closePair)
	return rt
}

// TestErrorClasses sends every error class (and the context errors) from the
// driver to the host, over unary and streaming calls.
func TestErrorClasses(t *testing.T) {
	classes := append([]error{context.Canceled, context.DeadlineExceeded}, runtime.Classes...)
	for _, class := range classes {
		t.Run(class.Error(), func(t *testing.T) {
			driverErr := fmt.Errorf("thing %q: %w", "x", class)
			rt := pair(t, &stub{err: driverErr})
			calls := map[string]func() error{
				"Ping": func() error { return rt.Ping(context.Background()) },
				"InspectImage": func() error {
					_, err := rt.InspectImage(context.Background(), "x")
					return err
				},
				"LoadImage": func() error {
					_, err := rt.LoadImage(context.Background(), strings.NewReader("tar"))
					return err
				},
			}
			for name, call := range calls {
				err := call()
				assert.ErrorIs(t, err, class, name)
				for _, other := range classes {
					if other != class {
						assert.NotErrorIs(t, err, other, "%s: of another class too", name)
					}
				}
				if err != nil {
					assert.EqualError(t, err, driverErr.Error(), "%s: the driver's message", name)
				}
			}
		})
	}
}

// TestUnclassifiedError keeps the message of an error without a class, and
// gives it none.
func TestUnclassifiedError(t *testing.T) {
	rt := pair(t, &stub{err: errors.New("disk on fire")})
	err := rt.Ping(context.Background())
	require.EqualError(t, err, "disk on fire")
	require.Nil(t, runtime.ClassOf(err), "the error's class")
}

// TestCancelWait cancels the host's context while a Wait is blocked in the
// driver: the call returns context.Canceled and the driver's context is done.
func TestCancelWait(t *testing.T) {
	entered := make(chan struct{})
	driverSaw := make(chan error, 1)
	rt := pair(t, &stub{wait: func(ctx context.Context, id string) (runtime.ExitStatus, error) {
		close(entered)
		<-ctx.Done()
		driverSaw <- ctx.Err()
		return runtime.ExitStatus{}, ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := rt.Wait(ctx, "c1")
		res <- err
	}()
	<-entered
	cancel()
	require.ErrorIs(t, <-res, context.Canceled, "Wait: got")
	require.ErrorIs(t, <-driverSaw, context.Canceled, "driver's ctx: got")
}

// TestDeadlinePropagates gives the driver's context the host's deadline (gRPC
// sends the time left, so the driver's may be later by the transit time).
func TestDeadlinePropagates(t *testing.T) {
	deadline := time.Now().Add(time.Hour)
	rt := pair(t, &stub{wait: func(ctx context.Context, id string) (runtime.ExitStatus, error) {
		got, ok := ctx.Deadline()
		if !ok || got.After(deadline.Add(time.Minute)) {
			return runtime.ExitStatus{}, fmt.Errorf("deadline %v (set %v), want about %v", got, ok, deadline)
		}
		return runtime.ExitStatus{ExitCode: 3}, nil
	}})
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	st, err := rt.Wait(ctx, "c1")
	require.NoError(t, err)
	require.Equal(t, 3, st.ExitCode, "Wait's exit code")
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// TestLogs streams lines to the right writer, in order, and returns when the
// driver's Logs returns.
func TestLogs(t *testing.T) {
	release := make(chan struct{})
	rt := pair(t, &stub{logs: func(ctx context.Context, id string, stdout, stderr io.Writer) error {
		for i := range 100 {
			fmt.Fprintf(stdout, "out %d\n", i)
			if i%10 == 0 {
				fmt.Fprintf(stderr, "err %d\n", i)
			}
		}
		<-release
		fmt.Fprintln(stdout, "last")
		return nil
	}})
	var all, stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- rt.Logs(context.Background(), "c1", runtime.LogOptions{Follow: true},
			io.MultiWriter(&stdout, &all), io.MultiWriter(&stderr, &all))
	}()
	close(release)
	require.NoError(t, <-done)
	var wantOut, wantErr, wantAll strings.Builder
	for i := range 100 {
		fmt.Fprintf(&wantOut, "out %d\n", i)
		fmt.Fprintf(&wantAll, "out %d\n", i)
		if i%10 == 0 {
			fmt.Fprintf(&wantErr, "err %d\n", i)
			fmt.Fprintf(&wantAll, "err %d\n", i)
		}
	}
	wantOut.WriteString("last\n")
	wantAll.WriteString("last\n")
	assert.Equal(t, wantOut.String(), stdout.buf.String(), "stdout")
	assert.Equal(t, wantErr.String(), stderr.buf.String(), "stderr")
	assert.Equal(t, wantAll.String(), all.buf.String(), "interleaving")
}

// TestLogsBlocked: Logs blocks while the driver's Logs does, and a cancelled
// host context ends it on both sides.
func TestLogsCancel(t *testing.T) {
	driverSaw := make(chan error, 1)
	rt := pair(t, &stub{logs: func(ctx context.Context, id string, stdout, stderr io.Writer) error {
		fmt.Fprintln(stdout, "first")
		<-ctx.Done()
		driverSaw <- ctx.Err()
		return ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	w := &firstWrite{cancel: cancel}
	err := rt.Logs(ctx, "c1", runtime.LogOptions{Follow: true}, w, io.Discard)
	require.ErrorIs(t, err, context.Canceled, "Logs: got")
	require.ErrorIs(t, <-driverSaw, context.Canceled, "driver's ctx: got")
}

// firstWrite cancels a context on its first write.
type firstWrite struct{ cancel func() }

func (w *firstWrite) Write(p []byte) (int, error) {
	w.cancel()
	return len(p), nil
}

// TestLoadImageStream sends a stream larger than one chunk intact.
func TestLoadImageStream(t *testing.T) {
	mem := memdriver.New("")
	rt := pair(t, mem)
	data := make([]byte, 1<<20+123)
	_, _ = rand.Read(data)
	tarball, err := testimage.Tar(testimage.Options{Ref: "big:1", Busybox: data, Files: map[string][]byte{"/big": data}})
	require.NoError(t, err)
	imgs, err := rt.LoadImage(context.Background(), bytes.NewReader(tarball))
	require.NoError(t, err)
	// The fake checks the layer's digest against the config's.
	want, _ := mem.LoadImage(context.Background(), bytes.NewReader(tarball))
	require.Len(t, imgs, 1, "LoadImage over the wire: images")
	require.Equal(t, [2]any{want[0].ID, want[0].Size}, [2]any{imgs[0].ID, imgs[0].Size}, "LoadImage over the wire: ID and size as in process")
	require.GreaterOrEqual(t, imgs[0].Size, 2*int64(len(data)), "LoadImage over the wire: size")
}

// TestLoadImageReadError: the host's reader failing ends the call with its
// error, and the driver sees the call cancelled.
func TestLoadImageReadError(t *testing.T) {
	rt := pair(t, memdriver.New(""))
	boom := errors.New("boom")
	_, err := rt.LoadImage(context.Background(), io.MultiReader(strings.NewReader("abc"), &errReader{boom}))
	require.ErrorIs(t, err, boom, "got")
}

type errReader struct{ err error }

func (r *errReader) Read([]byte) (int, error) { return 0, r.err }

// TestFieldsRoundTrip: every field of the spec and of the container crosses
// the wire.
func TestFieldsRoundTrip(t *testing.T) {
	spec := runtime.ContainerSpec{
		Name: "n", Image: "img", Cmd: []string{"sh", "-c", "true"}, Env: []string{"A=1"},
		SecretEnv: []string{"S=2"}, Labels: map[string]string{"k": "v"}, WorkingDir: "/w",
		MemoryBytes: 1 << 30, NanoCPUs: 5e8,
	}
	ctr := runtime.Container{
		ID: "id", Name: "n", Image: "img", Labels: map[string]string{"k": "v"},
		State: runtime.StateRunning, Created: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
	}
	var got runtime.ContainerSpec
	rt := pair(t, &stub{run: func(_ context.Context, s runtime.ContainerSpec) (runtime.Container, error) {
		got = s
		return ctr, nil
	}})
	c, err := rt.Run(context.Background(), spec)
	require.NoError(t, err)
	assert.Equal(t, spec, got, "the spec the driver got")
	assert.WithinDuration(t, ctr.Created, c.Created, 0, "created")
	c.Created = ctr.Created
	assert.Equal(t, ctr, c, "the container the host got")
}

// TestMemdriverCycle runs, waits for, reads and removes a container.
func TestMemdriverCycle(t *testing.T) {
	ctx := context.Background()
	rt := pair(t, memdriver.New("v1"))
	info, err := rt.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, [2]string{"memdriver", "v1"}, [2]string{info.Name, info.Version}, "Info's name and version")
	require.True(t, info.Has(runtime.CapLoad), "Info: has %s; capabilities %v", runtime.CapLoad, info.Capabilities)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: memdriver.BaseImage, Cmd: []string{"sh", "-c", "echo oops >&2; exit 1"}})
	require.NoError(t, err)
	st, err := rt.Wait(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, 1, st.ExitCode, "Wait's exit code")
	var stdout, stderr bytes.Buffer
	require.NoError(t, rt.Logs(ctx, c.ID, runtime.LogOptions{}, &stdout, &stderr))
	require.Empty(t, stdout.String(), "Logs: stdout")
	require.Equal(t, "oops\n", stderr.String(), "Logs: stderr")
	require.NoError(t, rt.Remove(ctx, c.ID))
	_, err = rt.InspectContainer(ctx, c.ID)
	require.ErrorIs(t, err, runtime.ErrNotFound, "InspectContainer after Remove")
	_, err = rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "x"})
	require.ErrorIs(t, err, runtime.ErrNotImplemented, "Commit")
}

// TestPairClosed: a call on a closed connection is ErrUnavailable.
func TestPairClosed(t *testing.T) {
	rt, closePair := wire.Pair(memdriver.New(""))
	closePair()
	require.ErrorIs(t, rt.Ping(context.Background()), runtime.ErrUnavailable, "Ping")
}
