// Command berth-driver-podman serves berth's Podman driver
// (github.com/berth-dev/berth/plugins/podman) over the plugin wire. berth
// starts it; its options come from the host through wire.DriverOptions.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime/wire"

	podman "github.com/berth-dev/berth/plugins/podman"
)

func main() {
	opts, err := podman.OptionsFromMap(wire.DriverOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-driver-podman:", err)
		os.Exit(1)
	}
	wire.Serve(podman.New(opts))
}
