package wire_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/wire"
	"github.com/berth-dev/berth/runtime/wire/testdata/memdriver"
)

// A driver's main function: build the runtime, then serve it.
func ExampleServe() {
	opts := wire.DriverOptions() // what the host put in Config.Options
	rt := memdriver.New(opts["version"])
	wire.Serve(rt) // returns when the host closes the driver
}

// The host side: start the driver berth-driver-docker and use it.
func ExampleOpen() {
	ctx := context.Background()
	d, err := wire.Open(ctx, wire.Config{
		Name:       "docker",
		PluginDirs: []string{"/usr/lib/berth/drivers"},
		Options:    map[string]string{"address": "unix:///var/run/docker.sock"},
		Logger:     slog.Default(),
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, wire.ErrDriverNotFound), ...
	}
	defer d.Close()
	info, err := d.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Name, info.EngineVersion)
}

// Pair runs a driver over the wire in process; error classes survive it.
func ExamplePair() {
	rt, closePair := wire.Pair(memdriver.New("v1"))
	defer closePair()

	_, err := rt.InspectContainer(context.Background(), "nonesuch")
	fmt.Println(err)
	fmt.Println(errors.Is(err, runtime.ErrNotFound))
	// Output:
	// fake: container "nonesuch": not found
	// true
}
