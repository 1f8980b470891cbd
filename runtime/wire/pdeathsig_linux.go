package wire

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the kernel SIGKILL the driver when the host dies,
// even by SIGKILL, so no driver process outlives its host.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
