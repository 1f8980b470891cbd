package wire_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/wire"
)

// TestDriverEnvironment reads the environment of a launched driver process:
// it holds the variables a driver needs (PATH, HOME, locale, proxies, the
// engines' own), those the config names, and go-plugin's handshake; nothing
// else from the host's environment, so never a secret the host holds.
func TestDriverEnvironment(t *testing.T) {
	const secret = "s3cr3t-d0-not-leak"
	for k, v := range map[string]string{
		"BERTH_TEST_TOKEN":      secret,
		"AWS_SECRET_ACCESS_KEY": secret,
		"BERTH_TEST_HIDDEN":     secret, // named, but hidden
		"BERTH_TEST_NAMED":      "named",
		"DOCKER_HOST":           "unix:///run/test-docker.sock",
		"DOCKER_CONTEXT":        "test-context",
		"DOCKER_CONFIG":         "/tmp/test-docker-config",
		"DOCKER_TLS_VERIFY":     "1",
		"DOCKER_CERT_PATH":      "/tmp/test-docker-certs",
		"DOCKER_API_VERSION":    "1.44",
		"CONTAINER_HOST":        "unix:///run/test-podman.sock",
		"CONTAINER_SSHKEY":      "/tmp/test-podman-key",
		"XDG_RUNTIME_DIR":       "/run/user/test",
		"CONTAINERD_ADDRESS":    "/run/test-containerd.sock",
		"CONTAINERD_NAMESPACE":  "berth-test",
		"https_proxy":           "http://proxy.test:3128",
		"NO_PROXY":              "localhost",
		"LC_TIME":               "C",
		"TZ":                    "UTC",
	} {
		t.Setenv(k, v)
	}
	d := open(t, wire.Config{
		Options: map[string]string{"version": "v1"},
		Env:     []string{"BERTH_TEST_NAMED", "BERTH_TEST_HIDDEN"},
		Hide:    []string{"BERTH_TEST_HIDDEN"},
	})
	env := drivertest.Environ(t, d.Pid())
	for _, k := range []string{"PATH", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY",
		"DOCKER_CERT_PATH", "DOCKER_API_VERSION", "CONTAINER_HOST", "CONTAINER_SSHKEY", "XDG_RUNTIME_DIR",
		"CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "https_proxy",
		"NO_PROXY", "LC_TIME", "TZ", "BERTH_TEST_NAMED", "BERTH_DRIVER_COOKIE", "BERTH_DRIVER_OPTIONS"} {
		if assert.Contains(t, env, k, "the driver's environment") {
			if want := os.Getenv(k); want != "" {
				assert.Equal(t, want, env[k], "%s in the driver (as in the host)", k)
			}
		}
	}
	allowed := []string{
		"PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
		"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT", "DOCKER_API_VERSION",
		"CONTAINER_HOST", "CONTAINER_SSHKEY", "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "XDG_RUNTIME_DIR",
		"BERTH_TEST_NAMED", "BERTH_DRIVER_COOKIE", "BERTH_DRIVER_OPTIONS",
	}
	for k, v := range env {
		assert.NotEqual(t, secret, v, "the driver received the secret in %s", k)
		assert.True(t, slices.Contains(allowed, k) || strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "PLUGIN_"),
			"the driver received %s, which is not for drivers", k)
	}
}

// TestOpenBadEnvName: a name that cannot be a variable's is refused.
func TestOpenBadEnvName(t *testing.T) {
	for _, name := range []string{"", "A=B", "A B"} {
		_, err := wire.Open(context.Background(), wire.Config{Path: driverBin, Env: []string{name}})
		assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "Open with Env [%q]", name)
	}
}
