package main

import "github.com/berth-dev/berth/runtime/wire"

func main() {
	opts := wire.DriverOptions()
	wire.Serve(New(Options{Address: opts["address"], InitPath: opts["init_path"]}))
}
