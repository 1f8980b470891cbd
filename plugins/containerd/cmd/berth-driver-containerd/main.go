// Command berth-driver-containerd serves berth's containerd driver over the
// plugin wire. berth starts it; its options ("address", "namespace",
// "snapshotter", "state_dir", "init", "layer_compression") come from the
// host through wire.DriverOptions.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime/wire"

	containerd "github.com/berth-dev/berth/plugins/containerd"
)

func main() {
	driver, err := containerd.New(containerd.OptionsFromMap(wire.DriverOptions()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-driver-containerd:", err)
		os.Exit(1)
	}
	defer driver.Close()
	wire.Serve(driver)
}
