package runtime

import (
	"path"
	"strings"
)

// EngineMade is the set of paths a container engine makes in a container
// of its own accord (the mount points of /etc/hosts, /etc/resolv.conf, an
// init binary, the volumes; the working directory), for a driver's
// ChangeChecker to leave out of a container's changes: what every
// container of the engine has is no change of the job's.
type EngineMade map[string]engineMade

type engineMade uint8

const (
	madePath  engineMade = iota + 1 // made by the engine
	madeAbove                       // a directory above one
)

// NewEngineMade returns the set of paths (absolute; cleaned) and the
// directories above them. Empty paths are skipped.
func NewEngineMade(paths ...string) EngineMade {
	m := EngineMade{}
	m.Add(paths...)
	return m
}

// Add adds paths and the directories above them.
func (m EngineMade) Add(paths ...string) {
	for _, p := range paths {
		if strings.TrimSpace(p) == "" {
			continue
		}
		p = path.Clean("/" + p)
		m[p] = madePath
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if m[d] == 0 {
				m[d] = madeAbove
			}
		}
	}
}

// Covers reports whether p is one of the paths, whose whole subtree is the
// engine's (a mount covers what is under it).
func (m EngineMade) Covers(p string) bool {
	return m[path.Clean("/"+p)] == madePath
}

// Ignores reports whether a change at p (removed: a deletion) is the
// engine's: p added or changed where it is one of the paths or a directory
// above one (made, or changed, for a mount point under it). A deletion is
// always the container's.
func (m EngineMade) Ignores(p string, removed bool) bool {
	return !removed && m[path.Clean("/"+p)] != 0
}
