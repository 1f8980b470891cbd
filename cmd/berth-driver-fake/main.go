// Command berth-driver-fake serves the fake runtime (package
// github.com/berth-dev/berth/runtime/fake) as a berth driver plugin, for
// tests of berth and of the plugin wire.
//
// Driver options (wire.Config.Options on the host):
//
//	state_dir   keep images and containers in this directory, shared by
//	            every process using it (fake.WithStateDir); default: memory
//	faults      faults to inject, as fake.ParseFaults reads them, for
//	            example "commit:2:unavailable,wait:1:crash"
//
// It is not meant to be run by hand: berth (or wire.Open) starts it.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/wire"
)

func main() {
	opts, err := options(wire.DriverOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-driver-fake:", err)
		os.Exit(2)
	}
	wire.Serve(fake.New(opts...))
}

// options turns driver options into fake options.
func options(driverOpts map[string]string) ([]fake.Option, error) {
	var opts []fake.Option
	for k, v := range driverOpts {
		switch k {
		case "state_dir":
			if v != "" {
				opts = append(opts, fake.WithStateDir(v))
			}
		case "faults":
			faults, err := fake.ParseFaults(v)
			if err != nil {
				return nil, err
			}
			opts = append(opts, fake.WithFaults(faults...))
		default:
			return nil, fmt.Errorf("unknown driver option %q (known: state_dir, faults)", k)
		}
	}
	return opts, nil
}
