//go:build !unix

package wire

import (
	"os"
	"os/exec"
)

// binaryCommand returns the command that runs the driver binary at path.
// Windows passes a child no descriptor but the standard three, so the
// binary runs from its path, not from bin, the open file that was checked:
// there, a binary changed between the check and the start goes unnoticed.
func binaryCommand(path string, _ *os.File) *exec.Cmd {
	return exec.Command(path)
}
