package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
)

// socketLink returns the address of a symbolic link, in a fresh directory,
// to the socket of the daemon the tests use: a non-default address that
// reaches the real daemon.
func socketLink(t *testing.T) string {
	t.Helper()
	engine.Need(t)
	sock, ok := strings.CutPrefix(testAddress(), "unix://")
	if !ok {
		drivertest.Require(t, "the daemon on a unix socket", errors.New(testAddress()+" is not one"))
	}
	link := filepath.Join(t.TempDir(), "docker.sock")
	require.NoError(t, os.Symlink(sock, link))
	return "unix://" + link
}

// isolate clears the environment that chooses the daemon and points the
// Docker CLI's configuration at an empty directory, which it returns.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(client.EnvOverrideHost, "")
	t.Setenv(EnvContext, "")
	t.Setenv(EnvConfig, dir)
	return dir
}

// writeContext stores a Docker CLI context named name whose docker endpoint
// is host, as the CLI does, in the configuration directory dir.
func writeContext(t *testing.T, dir, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	meta := filepath.Join(dir, "contexts", "meta", hex.EncodeToString(sum[:]))
	b, err := json.Marshal(map[string]any{
		"Name":      name,
		"Metadata":  map[string]any{},
		"Endpoints": map[string]any{"docker": map[string]any{"Host": host, "SkipTLSVerify": false}},
	})
	if err == nil {
		err = os.MkdirAll(meta, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(meta, "meta.json"), b, 0o644)
	}
	require.NoError(t, err)
}

// setCurrentContext writes config.json with currentContext name in dir.
func setCurrentContext(t *testing.T, dir, name string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"currentContext": "`+name+`"}`), 0o644))
}

// pingAt makes a driver with opts and checks it talks to want and that the
// daemon answers there.
func pingAt(t *testing.T, want string, opts ...Option) {
	t.Helper()
	d, err := New(opts...)
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, want, d.Address(), "the driver's address")
	assert.NoError(t, d.Ping(context.Background()), "ping %s", want)
}

func TestAddressFromDockerHost(t *testing.T) {
	link := socketLink(t)
	isolate(t)
	t.Setenv(client.EnvOverrideHost, link)
	pingAt(t, link)

	// The variable is what the driver uses: one naming no socket fails.
	missing := "unix://" + filepath.Join(t.TempDir(), "missing.sock")
	t.Setenv(client.EnvOverrideHost, missing)
	d, err := New()
	require.NoError(t, err)
	defer d.Close()
	assert.ErrorIs(t, d.Ping(context.Background()), runtime.ErrUnavailable, "ping with DOCKER_HOST=%s", missing)
}

func TestAddressOptionBeatsEnvironment(t *testing.T) {
	link := socketLink(t)
	dir := isolate(t)
	t.Setenv(client.EnvOverrideHost, "unix:///nonexistent/docker.sock")
	pingAt(t, link, WithAddress(link))
	pingAt(t, link, OptionsFromMap(map[string]string{"address": link})...)

	writeContext(t, dir, "elsewhere", "unix:///nonexistent/docker.sock")
	t.Setenv(client.EnvOverrideHost, "")
	t.Setenv(EnvContext, "elsewhere")
	pingAt(t, link, WithAddress(link))
}

func TestAddressFromContext(t *testing.T) {
	link := socketLink(t)
	dir := isolate(t)
	writeContext(t, dir, "berth-test", link)

	// config.json's current context.
	setCurrentContext(t, dir, "berth-test")
	pingAt(t, link)

	// DOCKER_CONTEXT beats config.json.
	setCurrentContext(t, dir, "gone")
	t.Setenv(EnvContext, "berth-test")
	pingAt(t, link)

	// DOCKER_HOST beats the context, as for the CLI.
	t.Setenv(EnvContext, "")
	setCurrentContext(t, dir, "berth-test")
	t.Setenv(client.EnvOverrideHost, "unix:///nonexistent/docker.sock")
	d, err := New()
	require.NoError(t, err)
	d.Close()
	assert.Equal(t, "unix:///nonexistent/docker.sock", d.Address(), "with DOCKER_HOST and a context: DOCKER_HOST's address")
}

func TestAddressDefault(t *testing.T) {
	dir := isolate(t)
	for _, current := range []string{"", "default"} {
		if current != "" {
			setCurrentContext(t, dir, current)
		}
		d, err := New()
		require.NoError(t, err)
		d.Close()
		assert.Equal(t, DefaultAddress, d.Address(), "current context %q", current)
	}
	// A context that is named but not stored is refused, as by the CLI.
	t.Setenv(EnvContext, "gone")
	_, err := New()
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "New with a missing context")
}

// TestEngineErrorKept checks that an engine error keeps both its class and
// the engine's own error: the SDK's errdefs class and the daemon's message.
func TestEngineErrorKept(t *testing.T) {
	d := newDriver(t)
	_, err := d.InspectContainer(context.Background(), "berth-dockertest-missing-0123456789")
	require.ErrorIs(t, err, runtime.ErrNotFound, "inspect a missing container")
	assert.ErrorIs(t, err, cerrdefs.ErrNotFound, "inspect a missing container: the SDK's errdefs.ErrNotFound is not in the chain")
	var ee *runtime.EngineError
	require.ErrorAs(t, err, &ee, "inspect a missing container")
	assert.Equal(t, runtime.EngineError{Driver: "docker", Op: ee.Op, Class: runtime.ErrNotFound, Err: ee.Err}, *ee, "a docker EngineError of class ErrNotFound")
}
