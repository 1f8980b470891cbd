// Command berth-driver-chroot serves the chroot driver to berth as a
// plugin. berth starts it; it is not meant to be run by hand.
//
// The state directory is the driver option "state_dir" (set by berth's
// configuration), else $BERTH_CHROOT_STATE, else /var/lib/berth-chroot.
// berth passes a driver only a minimal environment: to set
// BERTH_CHROOT_STATE this way, name it in the runtime's config
// (runtimes.<name>.env).
package main

import (
	"cmp"
	"fmt"
	"os"

	"github.com/berth-dev/berth/examples/chrootdriver/chroot"
	"github.com/berth-dev/berth/runtime/wire"
)

func main() {
	dir := cmp.Or(wire.DriverOptions()["state_dir"], os.Getenv("BERTH_CHROOT_STATE"), "/var/lib/berth-chroot")
	d, err := chroot.New(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth-driver-chroot:", err)
		os.Exit(1)
	}
	wire.Serve(d)
}
