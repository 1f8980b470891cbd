package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime/wire"
)

func main() {
	d, err := New(WithAddress(wire.DriverOptions()["address"]))
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-driver-docker:", err)
		os.Exit(1)
	}
	defer d.Close()
	wire.Serve(d)
}
