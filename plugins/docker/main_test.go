package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// Everything the tests make carries the label testLabel=testValue (images
// committed from a labelled container inherit it), so TestMain can sweep it
// away. The value, and so the base image, is unique to the test process:
// the sweep of a concurrent run of these tests leaves this one's alone.
const testLabel = "io.berth.test"

var (
	testValue = fmt.Sprintf("plugins-docker-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	baseRef   = fmt.Sprintf("berth-dockertest/busybox:%d", os.Getpid())
)

// engine is the daemon the tests use, probed by TestMain; driver is this
// module's binary, built once for the wire tests.
var (
	engine drivertest.Engine
	driver = &drivertest.Binary{Pkg: "./cmd/berth-driver-docker"}
)

func TestMain(m *testing.M) {
	engine = drivertest.Probe("the Docker daemon", 10*time.Second, probe)
	code := m.Run()
	if engine.Err == nil {
		sweep()
	}
	driver.Remove()
	os.Exit(code)
}

// probe checks that the daemon answers.
func probe(ctx context.Context) error {
	d, err := New()
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Ping(ctx)
}

// newDriver returns a driver closed at the end of the test.
func newDriver(tb testing.TB) *Driver {
	tb.Helper()
	engine.Need(tb)
	d, err := New()
	require.NoError(tb, err)
	tb.Cleanup(func() { d.Close() })
	return d
}

// testAddress is the daemon the tests use: the one a driver without an
// address option finds.
func testAddress() string {
	d, err := New()
	if err != nil {
		return DefaultAddress
	}
	defer d.Close()
	return d.Address()
}

// rawClient is the SDK client, for checks independent of the driver.
func rawClient(tb testing.TB) *client.Client {
	tb.Helper()
	engine.Need(tb)
	c, err := client.New(client.WithHost(testAddress()))
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	return c
}

var baseOnce struct {
	sync.Once
	err error
}

// baseImage loads the test image through the driver, once.
func baseImage(tb testing.TB) string {
	tb.Helper()
	baseOnce.Do(func() {
		tar, err := testimage.Tar(testimage.Options{Ref: baseRef, Labels: map[string]string{testLabel: testValue}})
		if err != nil {
			baseOnce.err = err
			return
		}
		d, err := New()
		if err != nil {
			baseOnce.err = err
			return
		}
		defer d.Close()
		_, baseOnce.err = d.LoadImage(context.Background(), bytes.NewReader(tar))
	})
	require.NoError(tb, baseOnce.err, "load base image")
	return baseRef
}

// run starts a labelled container from the base image and removes it at the
// end of the test.
func run(tb testing.TB, d *Driver, spec runtime.ContainerSpec) runtime.Container {
	tb.Helper()
	if spec.Image == "" {
		spec.Image = baseImage(tb)
	}
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[testLabel] = testValue
	c, err := d.Run(context.Background(), spec)
	require.NoError(tb, err, "run %q", spec.Cmd)
	tb.Cleanup(func() { d.Remove(context.Background(), c.ID) })
	return c
}

// runToEnd runs a container and waits for its exit, failing on a non-zero
// exit code.
func runToEnd(tb testing.TB, d *Driver, spec runtime.ContainerSpec) runtime.Container {
	tb.Helper()
	c := run(tb, d, spec)
	st, err := d.Wait(context.Background(), c.ID)
	require.NoError(tb, err)
	if st.ExitCode != 0 {
		var out bytes.Buffer
		d.Logs(context.Background(), c.ID, runtime.LogOptions{}, &out, &out)
		require.Zero(tb, st.ExitCode, "%q's exit code; output: %s", spec.Cmd, out.String())
	}
	return c
}

// commit commits a container and removes the image at the end of the test.
func commit(tb testing.TB, d *Driver, id string, opts runtime.CommitOptions) runtime.Image {
	tb.Helper()
	img, err := d.Commit(context.Background(), id, opts)
	require.NoError(tb, err, "commit %s", id)
	tb.Cleanup(func() { d.RemoveImage(context.Background(), img.ID) })
	return img
}

var refSeq struct {
	sync.Mutex
	n int
}

// newRef returns a fresh image reference for a test.
func newRef() string {
	refSeq.Lock()
	defer refSeq.Unlock()
	refSeq.n++
	return fmt.Sprintf("berth-dockertest/img:%d-%d", os.Getpid(), refSeq.n)
}

// sweep removes every container and image the tests labelled.
func sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := New()
	if err != nil {
		return
	}
	defer d.Close()
	mine := runtime.LabelFilter{testLabel: testValue}
	cs, _ := d.ListContainers(ctx, mine)
	for _, c := range cs {
		d.Remove(ctx, c.ID)
	}
	// Children first: retry while some removal makes progress.
	for range 5 {
		imgs, _ := d.ListImages(ctx, mine)
		if len(imgs) == 0 {
			break
		}
		for _, img := range imgs {
			for _, r := range img.Refs {
				d.RemoveImage(ctx, r)
			}
			d.RemoveImage(ctx, img.ID)
		}
	}
}

// second returns the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }
