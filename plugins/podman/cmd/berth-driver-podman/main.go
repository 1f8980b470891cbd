package main

import (
	"fmt"
	"os"
	"time"

	"github.com/berth-dev/berth/runtime/wire"
)

func main() {
	opts := wire.DriverOptions()
	var grace time.Duration
	if v := opts["secret_grace"]; v != "" {
		var err error
		if grace, err = time.ParseDuration(v); err != nil || grace <= 0 {
			fmt.Fprintf(os.Stderr, "berth-driver-podman: option secret_grace %q: want a positive duration such as 10m\n", v)
			os.Exit(1)
		}
	}
	wire.Serve(New(Options{Address: opts["address"], InitPath: opts["init_path"], SecretGrace: grace}))
}
