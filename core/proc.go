package core

import (
	"errors"
	"os"
)

// alive reports whether the process pid that started at start still runs.
// When the system cannot tell (no procStart outside Linux, permission), it
// assumes it does: a live job's container must never be taken for an
// orphan.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	got, err := procStart(pid)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return true
	}
	return got == start
}
