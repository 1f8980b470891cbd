package config

// Builtins are the runtime names berth knows without configuration, in the
// order berth probes the engines when none is chosen ("fake" is never
// probed: it must be asked for).
var Builtins = []string{"docker", "podman", "containerd", "fake"}

// Probed are the built-in runtimes tried, in order, when no runtime is
// chosen.
var Probed = []string{"docker", "podman", "containerd"}

// defaultAddress is each engine's usual socket.
var defaultAddress = map[string]string{
	"docker":     "unix:///var/run/docker.sock",
	"podman":     "unix:///run/podman/podman.sock",
	"containerd": "/run/containerd/containerd.sock",
}

// IsBuiltin reports whether name is a built-in runtime name.
func IsBuiltin(name string) bool { return contains(Builtins, name) }

// DefaultAddress returns the usual address of the engine of the built-in
// runtime name ("" for the fake and unknown names).
func DefaultAddress(name string) string { return defaultAddress[name] }

// Runtime returns the runtime called name: the configured one, or a
// built-in with its defaults. ok is false if name is neither.
func (f *File) Runtime(name string) (rt Runtime, ok bool) {
	if rt, ok := f.Runtimes[name]; ok {
		if rt.Driver == "" {
			rt.Driver = name
		}
		if rt.Address == "" {
			rt.Address = DefaultAddress(rt.Driver)
		}
		return rt, true
	}
	if IsBuiltin(name) {
		return Runtime{Driver: name, Address: DefaultAddress(name)}, true
	}
	return Runtime{}, false
}
