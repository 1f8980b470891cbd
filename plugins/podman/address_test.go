package podman

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// socketLink returns the address of a symbolic link, in a fresh directory,
// to the socket of the service the tests use: a non-default address that
// reaches the real service.
func socketLink(t *testing.T) string {
	t.Helper()
	service.Need(t)
	addr := New(Options{}).Address()
	sock, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		drivertest.Require(t, "the service on a unix socket", errors.New(addr+" is not one"))
	}
	link := filepath.Join(t.TempDir(), "podman.sock")
	require.NoError(t, os.Symlink(sock, link))
	return "unix://" + link
}

// pingAt makes a driver with opts and checks it talks to want and that the
// service answers there.
func pingAt(t *testing.T, want string, opts Options) {
	t.Helper()
	d := New(opts)
	assert.Equal(t, want, d.Address(), "address %q, want %q", d.Address(), want)
	assert.NoError(t, d.Ping(context.Background()), "ping %s", want)
}

func TestAddressFromContainerHost(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvHost, link)
	pingAt(t, link, Options{})

	// The variable is what the driver uses: one naming no socket fails.
	missing := "unix://" + filepath.Join(t.TempDir(), "missing.sock")
	t.Setenv(EnvHost, missing)
	assert.ErrorIs(t, New(Options{}).Ping(context.Background()), runtime.ErrUnavailable, "ping with %s=%s", EnvHost, missing)

	t.Setenv(EnvHost, "")
	assert.Equal(t, DefaultAddressFor(os.Geteuid(), os.Getenv), New(Options{}).Address(), "without %s", EnvHost)
}

func TestAddressOptionBeatsEnvironment(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvHost, "unix:///nonexistent/podman.sock")
	pingAt(t, link, Options{Address: link})
	opts, err := OptionsFromMap(map[string]string{"address": link})
	require.NoError(t, err)
	pingAt(t, link, opts)
}

func TestDefaultAddressFor(t *testing.T) {
	for _, tc := range []struct {
		uid  int
		xdg  string
		want string
	}{
		{0, "", "unix:///run/podman/podman.sock"},
		{0, "/run/user/0", "unix:///run/podman/podman.sock"},
		{1000, "/run/user/1000", "unix:///run/user/1000/podman/podman.sock"},
		{1000, "", "unix:///run/user/1000/podman/podman.sock"},
		{1001, "/tmp/xdg-1001", "unix:///tmp/xdg-1001/podman/podman.sock"},
	} {
		getenv := func(k string) string {
			if k == "XDG_RUNTIME_DIR" {
				return tc.xdg
			}
			return ""
		}
		got := DefaultAddressFor(tc.uid, getenv)
		assert.Equal(t, tc.want, got, "uid %d, XDG_RUNTIME_DIR=%q: %q, want %q", tc.uid, tc.xdg, got, tc.want)
	}
}

func TestOptionsFromMap(t *testing.T) {
	opts, err := OptionsFromMap(map[string]string{"address": "unix:///x.sock", "init_path": "/sbin/init", "secret_grace": "90s"})
	require.NoError(t, err)
	assert.Equal(t, Options{Address: "unix:///x.sock", InitPath: "/sbin/init", SecretGrace: 90 * time.Second}, opts)
	for _, bad := range []string{"10", "-1m", "0s", "soon"} {
		assert.ErrorIs(t, second(OptionsFromMap(map[string]string{"secret_grace": bad})), runtime.ErrInvalidArgument, "secret_grace %q", bad)
	}
}

// TestEngineErrorKept checks that an engine error keeps both its class and
// the service's own error, the bindings' *errorhandling.ErrorModel.
func TestEngineErrorKept(t *testing.T) {
	d := newDriver(t)
	_, err := d.InspectContainer(context.Background(), "berth-podmantest-missing-0123456789")
	require.ErrorIs(t, err, runtime.ErrNotFound, "inspect a missing container")
	var model *errorhandling.ErrorModel
	require.True(t, errors.As(err, &model), "inspect a missing container: %v: no *errorhandling.ErrorModel in the chain", err)
	assert.Equal(t, http.StatusNotFound, model.Code(), "the service's status %d, want %d", model.Code(), http.StatusNotFound)
	var ee *runtime.EngineError
	assert.False(t, !errors.As(err, &ee) || ee.Driver != Name || ee.Class != runtime.ErrNotFound, "inspect a missing container: %#v, want a podman EngineError of class ErrNotFound", ee)
}
