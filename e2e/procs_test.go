package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/stretchr/testify/assert"
)

// strayWait bounds the wait for processes of a step to end.
const strayWait = 10 * time.Second

// strays returns the processes whose environment names the step's state
// directory: berth commands and the drivers they started (which inherit
// berth's environment).
func (e *env) strays() []int {
	marker := []byte("BERTH_STATE_DIR=" + e.stateDir)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil {
			continue // gone, or a zombie
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, marker) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// noStrays fails the step if a process of it is still there once every
// berth command has ended (waiting up to strayWait for them to exit), and
// kills it.
func (e *env) noStrays() {
	e.t.Helper()
	if assert.Eventually(e.t, func() bool { return len(e.strays()) == 0 }, strayWait, 100*time.Millisecond,
		"want no process of the step left %s after its berth commands ended (a driver must not outlive the berth that started it)", strayWait) {
		return
	}
	for _, pid := range e.strays() {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		e.t.Logf("process %d (%s) outlived the berth command that started it: killed", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
