package core

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// procStart returns the start time of process pid, in clock ticks after
// boot (field 22 of /proc/PID/stat). Together with the PID it names a
// process uniquely: a reused PID has another start time. It returns an
// error wrapping os.ErrNotExist when there is no such process (or only its
// zombie is left).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command field", pid)
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	if string(fields[0]) == "Z" || string(fields[0]) == "X" {
		return 0, fmt.Errorf("process %d has exited: %w", pid, os.ErrNotExist)
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}
