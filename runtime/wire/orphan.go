package wire

import (
	"os"
	"time"
)

// exitWithParent ends the driver process when the host that launched it is
// gone (its parent changed: the host was killed and the driver re-parented).
// A driver must never outlive its host: nothing else would ever stop it. On
// Linux the host also asks the kernel for SIGKILL on its death (see
// setParentDeathSignal); this watch covers the other systems and a host
// thread that exited early.
func exitWithParent(every time.Duration) {
	parent := os.Getppid()
	if parent <= 1 {
		return // not launched by a host (started by hand or by init)
	}
	go func() {
		for range time.Tick(every) {
			if os.Getppid() != parent {
				os.Exit(0)
			}
		}
	}()
}
