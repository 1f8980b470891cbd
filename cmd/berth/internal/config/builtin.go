package config

import (
	"maps"
	"strings"
)

// Builtins are the runtime names berth knows without configuration, in the
// order berth probes the engines when none is chosen ("fake" is never
// probed: it must be asked for).
var Builtins = []string{"docker", "podman", "containerd", "fake"}

// Probed are the built-in runtimes tried, in order, when no runtime is
// chosen.
var Probed = []string{"docker", "podman", "containerd"}

// StateDirVar, in the value of a runtime's option, stands for berth's state
// directory (see Runtime.ExpandOptions).
const StateDirVar = "${state_dir}"

// builtins are the settings of the built-in runtimes. The engines' have no
// address: each driver finds its engine as the engine's own clients do
// (DOCKER_HOST or the Docker CLI's context; CONTAINER_HOST or Podman's
// socket; CONTAINERD_ADDRESS or containerd's socket). The fake keeps its
// state in the state directory.
var builtins = map[string]Runtime{
	"docker":     {Driver: "docker"},
	"podman":     {Driver: "podman"},
	"containerd": {Driver: "containerd"},
	"fake":       {Driver: "fake", Options: map[string]string{"state_dir": StateDirVar + "/fake"}},
}

// IsBuiltin reports whether name is a built-in runtime name.
func IsBuiltin(name string) bool { return contains(Builtins, name) }

// Runtime returns the runtime called name: the configured one, or a
// built-in with its settings. A configured runtime whose driver is a
// built-in one gets that built-in's options it does not set itself. ok is
// false if name is neither.
func (f *File) Runtime(name string) (rt Runtime, ok bool) {
	if rt, ok := f.Runtimes[name]; ok {
		if rt.Driver == "" {
			rt.Driver = name
		}
		if b, ok := builtins[rt.Driver]; ok && len(b.Options) > 0 {
			opts := maps.Clone(b.Options)
			maps.Copy(opts, rt.Options)
			rt.Options = opts
		}
		return rt, true
	}
	if b, ok := builtins[name]; ok {
		b.Options = maps.Clone(b.Options)
		return b, true
	}
	return Runtime{}, false
}

// ExpandOptions returns the runtime's options with StateDirVar replaced by
// stateDir in every value.
func (rt Runtime) ExpandOptions(stateDir string) map[string]string {
	opts := make(map[string]string, len(rt.Options))
	for k, v := range rt.Options {
		opts[k] = strings.ReplaceAll(v, StateDirVar, stateDir)
	}
	return opts
}
