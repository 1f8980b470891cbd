//go:build !linux

package wire

import "os/exec"

// setParentDeathSignal is a no-op where the kernel offers no parent-death
// signal; the driver's own watch (exitWithParent) ends it instead.
func setParentDeathSignal(*exec.Cmd) {}
