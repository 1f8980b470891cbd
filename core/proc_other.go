//go:build !linux

package core

import "errors"

// procStart would return the start time of process pid; outside Linux
// berth does not read it, and returns errors.ErrUnsupported. Jobs are then
// judged by their owner's lock alone (see owners), which every berth
// since schema version 2 holds.
func procStart(pid int) (uint64, error) {
	return 0, errors.ErrUnsupported
}
