//go:build unix

package wire

import (
	"io/fs"
	"syscall"
)

// ownedBy reports whether the file fi describes belongs to the user uid.
func ownedBy(fi fs.FileInfo, uid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}
