package containerd_test

import (
	"fmt"

	containerd "github.com/berth-dev/berth/plugins/containerd"
)

// ExampleOptionsFromMap reads the options berth passes to the plugin (the
// runtime's options in berth's config).
func ExampleOptionsFromMap() {
	opts := containerd.OptionsFromMap(map[string]string{
		"namespace":         "ci",
		"state_dir":         "/run/berth-ci",
		"layer_compression": "gzip",
	})
	fmt.Println(opts.Namespace, opts.StateDir, opts.LayerCompression)
	// Output: ci /run/berth-ci gzip
}
