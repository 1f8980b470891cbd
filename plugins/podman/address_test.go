package podman

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containers/podman/v5/pkg/errorhandling"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
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
	if err := os.Symlink(sock, link); err != nil {
		t.Fatal(err)
	}
	return "unix://" + link
}

// pingAt makes a driver with opts and checks it talks to want and that the
// service answers there.
func pingAt(t *testing.T, want string, opts Options) {
	t.Helper()
	d := New(opts)
	if d.Address() != want {
		t.Errorf("address %q, want %q", d.Address(), want)
	}
	if err := d.Ping(context.Background()); err != nil {
		t.Errorf("ping %s: %v", want, err)
	}
}

func TestAddressFromContainerHost(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvHost, link)
	pingAt(t, link, Options{})

	// The variable is what the driver uses: one naming no socket fails.
	missing := "unix://" + filepath.Join(t.TempDir(), "missing.sock")
	t.Setenv(EnvHost, missing)
	if err := New(Options{}).Ping(context.Background()); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("ping with %s=%s: %v, want ErrUnavailable", EnvHost, missing, err)
	}

	t.Setenv(EnvHost, "")
	if got, want := New(Options{}).Address(), DefaultAddressFor(os.Geteuid(), os.Getenv); got != want {
		t.Errorf("without %s: address %q, want %q", EnvHost, got, want)
	}
}

func TestAddressOptionBeatsEnvironment(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvHost, "unix:///nonexistent/podman.sock")
	pingAt(t, link, Options{Address: link})
	opts, err := OptionsFromMap(map[string]string{"address": link})
	if err != nil {
		t.Fatal(err)
	}
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
		if got := DefaultAddressFor(tc.uid, getenv); got != tc.want {
			t.Errorf("uid %d, XDG_RUNTIME_DIR=%q: %q, want %q", tc.uid, tc.xdg, got, tc.want)
		}
	}
}

func TestOptionsFromMap(t *testing.T) {
	opts, err := OptionsFromMap(map[string]string{"address": "unix:///x.sock", "init_path": "/sbin/init", "secret_grace": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Options{Address: "unix:///x.sock", InitPath: "/sbin/init", SecretGrace: 90e9}); opts != want {
		t.Errorf("options %+v, want %+v", opts, want)
	}
	for _, bad := range []string{"10", "-1m", "0s", "soon"} {
		if _, err := OptionsFromMap(map[string]string{"secret_grace": bad}); !errors.Is(err, runtime.ErrInvalidArgument) {
			t.Errorf("secret_grace %q: %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// TestEngineErrorKept checks that an engine error keeps both its class and
// the service's own error, the bindings' *errorhandling.ErrorModel.
func TestEngineErrorKept(t *testing.T) {
	d := newDriver(t)
	_, err := d.InspectContainer(context.Background(), "berth-podmantest-missing-0123456789")
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect a missing container: %v, want ErrNotFound", err)
	}
	var model *errorhandling.ErrorModel
	if !errors.As(err, &model) {
		t.Fatalf("inspect a missing container: %v: no *errorhandling.ErrorModel in the chain", err)
	}
	if model.Code() != http.StatusNotFound {
		t.Errorf("the service's status %d, want %d", model.Code(), http.StatusNotFound)
	}
	var ee *runtime.EngineError
	if !errors.As(err, &ee) || ee.Driver != Name || ee.Class != runtime.ErrNotFound {
		t.Errorf("inspect a missing container: %#v, want a podman EngineError of class ErrNotFound", ee)
	}
}
