//go:build unix

package wire

import (
	"os"
	"os/exec"
	goruntime "runtime"
)

// binaryCommand returns the command that runs the driver binary bin, open
// at path: the very file opened and checked, passed as the process's
// descriptor 3 and executed through it, so whatever is at path now is not
// what runs. Args[0] stays the path.
func binaryCommand(path string, bin *os.File) *exec.Cmd {
	cmd := exec.Command(path)
	cmd.Path = execFD
	cmd.ExtraFiles = []*os.File{bin}
	return cmd
}

// execFD is the path through which a process executes its descriptor 3.
var execFD = func() string {
	if goruntime.GOOS == "linux" {
		return "/proc/self/fd/3"
	}
	return "/dev/fd/3"
}()
