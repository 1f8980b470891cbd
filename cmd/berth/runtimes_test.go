package main

import (
	"maps"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/cmd/berth/internal/config"
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
	if err != nil {
		t.Fatal(err)
	}
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
		if err != nil {
			t.Errorf("%s: %v", c.runtime, err)
			continue
		}
		if wc.Name != c.name || wc.Path != c.path || !maps.Equal(wc.Options, c.opts) {
			t.Errorf("%s: name %q, path %q, options %v; want %q, %q, %v", c.runtime, wc.Name, wc.Path, wc.Options, c.name, c.path, c.opts)
		}
		if len(wc.PluginDirs) != 1 || wc.PluginDirs[0] != "/plugins" {
			t.Errorf("%s: plugin directories %v, want [/plugins]", c.runtime, wc.PluginDirs)
		}
	}
}
