package containerd

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// The test setup: every test works in namespaces named testNamespace*, made
// fresh for this run and checked empty (then deleted) at the end.
var (
	// testNamespace is this run's namespace.
	testNamespace = "berth-test-" + randomHex(4)
	// daemon is containerd, probed by TestMain.
	daemon drivertest.Engine
	// driver is the plugin binary, built once for the wire tests.
	driver = &drivertest.Binary{Pkg: "./cmd/berth-driver-containerd"}
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	daemon = drivertest.Probe("containerd", 5*time.Second, pingDaemon)
	defer driver.Remove()
	code := m.Run()
	if daemon.Err == nil {
		if err := checkEmpty(testNamespace, true); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: left behind in containerd namespace %s: %v\n", testNamespace, err)
			return 1
		}
	}
	return code
}

// pingDaemon checks that containerd answers at the default address.
func pingDaemon(ctx context.Context) error {
	d, err := New(Options{Namespace: "berth-test-ping"})
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Ping(ctx)
}

// newDriver returns a driver on the test namespace, closed at clean-up.
func newDriver(t testing.TB) *Driver {
	t.Helper()
	daemon.Need(t)
	d, err := New(Options{Namespace: testNamespace})
	require.NoError(t, err, "New")
	t.Cleanup(func() { d.Close() })
	return d
}

// loadBase loads the test image under a fresh reference and removes it at
// clean-up.
func loadBase(t testing.TB, rt runtime.Runtime) string {
	t.Helper()
	ref := "berth-test/base-" + randomHex(4) + ":latest"
	tarball, err := testimage.Tar(testimage.Options{Ref: ref})
	require.NoError(t, err, "testimage")
	require.NoError(t, second(rt.LoadImage(context.Background(), bytes.NewReader(tarball))), "LoadImage")
	t.Cleanup(func() { removeImage(t, rt, ref) })
	return ref
}

// removeImage removes ref, tolerating its absence.
func removeImage(t testing.TB, rt runtime.Runtime, ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := rt.RemoveImage(ctx, ref)
	assert.False(t, err != nil && !errors.Is(err, runtime.ErrNotFound), "clean-up: RemoveImage(%s): %v", ref, err)
}

// runDone runs spec to its end, removes the container at clean-up and
// fails the test unless it exits 0.
func runDone(t testing.TB, rt runtime.Runtime, spec runtime.ContainerSpec) runtime.Container {
	t.Helper()
	ctx := context.Background()
	c, err := rt.Run(ctx, spec)
	require.NoError(t, err, "Run(%v)", spec.Cmd)
	t.Cleanup(func() {
		err := rt.Remove(context.Background(), c.ID)
		assert.False(t, err != nil && !errors.Is(err, runtime.ErrNotFound), "clean-up: Remove(%s): %v", c.ID, err)
	})
	st, err := rt.Wait(ctx, c.ID)
	require.NoError(t, err, "Wait")
	if st.ExitCode != 0 {
		var out, errb bytes.Buffer
		_ = rt.Logs(ctx, c.ID, runtime.LogOptions{}, &out, &errb)
		require.Zero(t, st.ExitCode, "%v's exit code (stdout %q stderr %q)", spec.Cmd, out.String(), errb.String())
	}
	return c
}

// checkEmpty returns an error listing what the namespace still holds
// (containers, images, snapshots, leases, content) and what the driver's
// state directory for it holds; with drop it then deletes both.
func checkEmpty(ns string, drop bool) error {
	c, err := client.New(cmp.Or(os.Getenv(EnvAddress), DefaultAddress))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	var left []string
	cs, err := c.ContainerService().List(ctx)
	if err != nil {
		return err
	}
	for _, x := range cs {
		left = append(left, "container "+x.ID)
	}
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		return err
	}
	for _, x := range imgs {
		left = append(left, "image "+x.Name)
	}
	ls, err := c.LeasesService().List(ctx)
	if err != nil {
		return err
	}
	for _, x := range ls {
		left = append(left, "lease "+x.ID)
	}
	if err := c.SnapshotService(DefaultSnapshotter).Walk(ctx, func(_ context.Context, i snapshotInfo) error {
		left = append(left, "snapshot "+i.Name)
		return nil
	}); err != nil {
		return err
	}
	if err := c.ContentStore().Walk(ctx, func(i contentInfo) error {
		left = append(left, "content "+i.Digest.String())
		return nil
	}); err != nil {
		return err
	}
	stateDir := filepath.Join(defaultStateRoot, ns)
	entries, err := os.ReadDir(stateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		left = append(left, "state "+filepath.Join(stateDir, e.Name()))
	}
	if len(left) > 0 {
		return fmt.Errorf("%d objects: %v", len(left), left)
	}
	if drop {
		if err := os.RemoveAll(stateDir); err != nil {
			return err
		}
		if err := c.NamespaceService().Delete(ctx, ns); err != nil && !errdefs.IsNotFound(err) { // never made if no test used it
			return fmt.Errorf("delete namespace: %w", err)
		}
	}
	return nil
}

// second returns the error of a call that returns a value and an error.
func second[T any](_ T, err error) error { return err }
