// Command berth-driver-docker serves berth's Docker driver
// (github.com/berth-dev/berth/plugins/docker) over the plugin wire. berth
// starts it; its options come from the host through wire.DriverOptions.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime/wire"

	docker "github.com/berth-dev/berth/plugins/docker"
)

func main() {
	d, err := docker.New(docker.OptionsFromMap(wire.DriverOptions())...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-driver-docker:", err)
		os.Exit(1)
	}
	defer d.Close()
	wire.Serve(d)
}
