package containerd

import (
	"cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// socketLink returns a symbolic link, in a fresh directory, to the socket
// of the containerd the tests use: a non-default address that reaches the
// real daemon.
func socketLink(t *testing.T) string {
	t.Helper()
	daemon.Need(t)
	link := filepath.Join(t.TempDir(), "containerd.sock")
	require.NoError(t, os.Symlink(cmp.Or(os.Getenv(EnvAddress), DefaultAddress), link))
	return link
}

// pingAt makes a driver with opts and checks it talks to want and that
// containerd answers there.
func pingAt(t *testing.T, want string, opts Options) {
	t.Helper()
	d, err := New(opts)
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, want, d.Address(), "address %q, want %q", d.Address(), want)
	assert.NoError(t, d.Ping(context.Background()), "ping %s", want)
}

func TestAddressFromEnvironment(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvAddress, link)
	pingAt(t, link, Options{Namespace: testNamespace})

	// The variable is what the driver uses: one naming no socket fails.
	missing := filepath.Join(t.TempDir(), "missing.sock")
	t.Setenv(EnvAddress, missing)
	d, err := New(Options{Namespace: testNamespace})
	require.NoError(t, err)
	defer d.Close()
	assert.ErrorIs(t, d.Ping(context.Background()), runtime.ErrUnavailable, "ping with %s=%s", EnvAddress, missing)

	t.Setenv(EnvAddress, "")
	d, err = New(Options{Namespace: testNamespace})
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, DefaultAddress, d.Address(), "without %s: address %q, want %q", EnvAddress, d.Address(), DefaultAddress)
}

func TestAddressOptionBeatsEnvironment(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvAddress, "/nonexistent/containerd.sock")
	pingAt(t, link, Options{Address: link, Namespace: testNamespace})
	pingAt(t, link, OptionsFromMap(map[string]string{"address": link, "namespace": testNamespace}))
}

func TestNamespaceFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env, option, want string
	}{
		{"", "", DefaultNamespace},
		{testNamespace, "", testNamespace},
		{"berth-test-other", testNamespace, testNamespace},
	} {
		t.Setenv(EnvNamespace, tc.env)
		d, err := New(Options{Namespace: tc.option})
		require.NoError(t, err)
		d.Close()
		assert.Equal(t, tc.want, d.Namespace(), "%s=%q, option %q: namespace %q, want %q", EnvNamespace, tc.env, tc.option, d.Namespace(), tc.want)
	}
	// Docker's namespace is refused from the environment too.
	t.Setenv(EnvNamespace, "moby")
	assert.ErrorIs(t, second(New(Options{})), runtime.ErrInvalidArgument, "%s=moby", EnvNamespace)
}

// TestEngineErrorKept checks that an engine error keeps both its class and
// containerd's own error (errdefs' not-found, from the gRPC status).
func TestEngineErrorKept(t *testing.T) {
	d := newDriver(t)
	_, err := d.InspectContainer(context.Background(), "berth-test-missing-0123456789")
	require.ErrorIs(t, err, runtime.ErrNotFound, "inspect a missing container")
	var notFound interface{ NotFound() }
	assert.False(t, !errors.As(err, &notFound) || !errdefs.IsNotFound(err), "inspect a missing container: %v: containerd's not-found error is not in the chain", err)
	var ee *runtime.EngineError
	assert.False(t, !errors.As(err, &ee) || ee.Driver != "containerd" || ee.Class != runtime.ErrNotFound, "inspect a missing container: %#v, want a containerd EngineError of class ErrNotFound", ee)
}
