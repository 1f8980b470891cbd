package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
	"github.com/berth-dev/berth/runtime/wire"
)

// The command passes an engine address only when the config names one:
// without, each driver finds its engine as the engine's own clients do
// (DOCKER_HOST, CONTAINER_HOST, CONTAINERD_ADDRESS, ...). The fake's state
// directory comes from the built-in config, under berth's state directory.
func TestDriverConfig(t *testing.T) {
	state := t.TempDir()
	cfg, err := config.Parse([]byte(`
runtimes:
  remote:
    driver: docker
    address: tcp://10.0.0.5:2375
  optioned:
    driver: podman
    address: unix:///run/a.sock
    options: {address: "unix:///run/b.sock"}
  fake:
    options: {faults: "commit:1:unavailable"}
  myfake:
    driver: fake
    options: {state_dir: "${state_dir}/mine"}
  pinned:
    driver: /opt/berth/berth-driver-docker
`))
	require.NoError(t, err)
	s := newRuntimeSet(cfg, state, []string{"/plugins"}, nil)
	for _, c := range []struct {
		runtime    string
		name, path string
		opts       map[string]string
	}{
		{"docker", "docker", "", map[string]string{}},
		{"podman", "podman", "", map[string]string{}},
		{"containerd", "containerd", "", map[string]string{}},
		{"remote", "docker", "", map[string]string{"address": "tcp://10.0.0.5:2375"}},
		{"optioned", "podman", "", map[string]string{"address": "unix:///run/b.sock"}},
		{"fake", "fake", "", map[string]string{"state_dir": filepath.Join(state, "fake"), "faults": "commit:1:unavailable"}},
		{"myfake", "fake", "", map[string]string{"state_dir": filepath.Join(state, "mine")}},
		{"pinned", "", "/opt/berth/berth-driver-docker", map[string]string{}},
	} {
		wc, err := s.wireConfig(c.runtime)
		if !assert.NoError(t, err, c.runtime) {
			continue
		}
		assert.Equal(t, [3]any{c.name, c.path, c.opts}, [3]any{wc.Name, wc.Path, wc.Options}, "%s: name, path and options", c.runtime)
		assert.Equal(t, []string{"/plugins"}, wc.PluginDirs, "%s: plugin directories", c.runtime)
	}
}

// The command's set stops a driver that hangs at its start when it closes:
// Close returns at once, the process is gone, and a caller waiting for the
// driver gets an error.
func TestRuntimeSetCloseDuringLaunch(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	// A driver that never writes go-plugin's handshake line.
	script := "#!/bin/sh\necho $$ > " + pidfile + ".tmp && mv " + pidfile + ".tmp " + pidfile + "\nexec sleep 600\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "berth-driver-hang"), []byte(script), 0o755))
	cfg, err := config.Parse([]byte("runtimes:\n  hang: {}\n"))
	require.NoError(t, err)
	s := newRuntimeSet(cfg, t.TempDir(), []string{dir}, slog.New(slog.DiscardHandler))
	got := make(chan error, 1)
	go func() {
		_, err := s.Runtime(context.Background(), "hang")
		got <- err
	}()
	var pid int
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(pidfile)
		if err == nil {
			pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		}
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "the hanging driver did not start")
	begin := time.Now()
	s.Close()
	assert.Less(t, time.Since(begin), 5*time.Second, "Close's wait for a hanging launch")
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the hanging driver's process %d after Close", pid)
	require.ErrorIs(t, <-got, context.Canceled, "the waiting caller's error")
	_, err = s.Runtime(context.Background(), "hang")
	require.ErrorIs(t, err, wire.ErrClosed, "Runtime after Close")
}
