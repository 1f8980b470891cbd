package containerd

import (
	"cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth-dev/berth/runtime"
)

// socketLink returns a symbolic link, in a fresh directory, to the socket
// of the containerd the tests use: a non-default address that reaches the
// real daemon.
func socketLink(t *testing.T) string {
	t.Helper()
	daemon.Need(t)
	link := filepath.Join(t.TempDir(), "containerd.sock")
	if err := os.Symlink(cmp.Or(os.Getenv(EnvAddress), DefaultAddress), link); err != nil {
		t.Fatal(err)
	}
	return link
}

// pingAt makes a driver with opts and checks it talks to want and that
// containerd answers there.
func pingAt(t *testing.T, want string, opts Options) {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Address() != want {
		t.Errorf("address %q, want %q", d.Address(), want)
	}
	if err := d.Ping(context.Background()); err != nil {
		t.Errorf("ping %s: %v", want, err)
	}
}

func TestAddressFromEnvironment(t *testing.T) {
	link := socketLink(t)
	t.Setenv(EnvAddress, link)
	pingAt(t, link, Options{Namespace: testNamespace})

	// The variable is what the driver uses: one naming no socket fails.
	missing := filepath.Join(t.TempDir(), "missing.sock")
	t.Setenv(EnvAddress, missing)
	d, err := New(Options{Namespace: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Ping(context.Background()); !errors.Is(err, runtime.ErrUnavailable) {
		t.Errorf("ping with %s=%s: %v, want ErrUnavailable", EnvAddress, missing, err)
	}

	t.Setenv(EnvAddress, "")
	d, err = New(Options{Namespace: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Address() != DefaultAddress {
		t.Errorf("without %s: address %q, want %q", EnvAddress, d.Address(), DefaultAddress)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		if d.Namespace() != tc.want {
			t.Errorf("%s=%q, option %q: namespace %q, want %q", EnvNamespace, tc.env, tc.option, d.Namespace(), tc.want)
		}
	}
	// Docker's namespace is refused from the environment too.
	t.Setenv(EnvNamespace, "moby")
	if _, err := New(Options{}); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("%s=moby: %v, want ErrInvalidArgument", EnvNamespace, err)
	}
}

// TestEngineErrorKept checks that an engine error keeps both its class and
// containerd's own error (errdefs' not-found, from the gRPC status).
func TestEngineErrorKept(t *testing.T) {
	d := newDriver(t)
	_, err := d.InspectContainer(context.Background(), "berth-test-missing-0123456789")
	if !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("inspect a missing container: %v, want ErrNotFound", err)
	}
	var notFound interface{ NotFound() }
	if !errors.As(err, &notFound) || !errdefs.IsNotFound(err) {
		t.Errorf("inspect a missing container: %v: containerd's not-found error is not in the chain", err)
	}
	var ee *runtime.EngineError
	if !errors.As(err, &ee) || ee.Driver != "containerd" || ee.Class != runtime.ErrNotFound {
		t.Errorf("inspect a missing container: %#v, want a containerd EngineError of class ErrNotFound", ee)
	}
}
