package e2e

// target is a runtime the scenario runs against: everything engine
// specific lives here, none of it in the scenario's steps.
type target struct {
	name string
	// module is the driver's own Go module (relative to the repository
	// root), built with tags; "" means the driver is built with berth.
	module, tags string
	// buildEnv is added to the environment of the driver's build.
	buildEnv []string
	// address is the engine's socket ("" for the fake, which needs none).
	address string
	// options are the driver options berth passes for this runtime by
	// default; the fake's state_dir is added per state directory.
	options map[string]string
	// down are driver options that make the engine unreachable.
	down map[string]string
}

// targets are the runtimes BERTH_E2E_RUNTIMES may name.
var targets = map[string]target{
	"fake": {
		name: "fake",
		down: map[string]string{"faults": "*:*:unavailable"}, // every engine call fails
	},
	"docker": {
		name: "docker", module: "plugins/docker",
		address: "unix:///var/run/docker.sock",
		options: map[string]string{"address": "unix:///var/run/docker.sock"},
		down:    map[string]string{"address": "unix:///nonexistent/docker.sock"},
	},
	"podman": {
		name: "podman", module: "plugins/podman", tags: "remote containers_image_openpgp",
		buildEnv: []string{"CGO_ENABLED=0"},
		address:  "unix:///run/podman/podman.sock",
		options:  map[string]string{"address": "unix:///run/podman/podman.sock"},
		down:     map[string]string{"address": "unix:///nonexistent/podman.sock"},
	},
	"containerd": {
		name: "containerd", module: "plugins/containerd",
		address: "/run/containerd/containerd.sock",
		options: map[string]string{"address": "/run/containerd/containerd.sock"},
		down:    map[string]string{"address": "/nonexistent/containerd.sock"},
	},
}
