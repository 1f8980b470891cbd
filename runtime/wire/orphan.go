package wire

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
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

// Socket directories. go-plugin makes a directory for each driver process's
// unix sockets (plugin-dir*) and removes it when the process stops; a host
// killed by SIGKILL leaves it behind. So a host process keeps those
// directories in one of its own, TMPDIR/berth-UID/hNNN, whose lock file
// (hNNN/.lock, a gofrs/flock lock: flock(2) on Unix, LockFileEx on Windows)
// it holds while it has drivers, and removes after its last driver. A host
// that finds such a lock free knows that its owner is gone and removes the
// directory (RemoveStaleSockets): a crash leaves nothing behind for longer
// than until the next host starts a driver. Making, sweeping and removing
// host directories happen under the lock of TMPDIR/berth-UID/.lock, so a
// sweep never sees a directory before its owner has locked it.

// lockFile is the name of the lock file of a directory.
const lockFile = ".lock"

// hostSockets is this process's socket directory while it has drivers.
var hostSockets struct {
	mu    sync.Mutex
	users int          // open Drivers
	dir   string       // TMPDIR/berth-UID/hNNN
	lock  *flock.Flock // dir's lock file, locked
}

// socketBase returns TMPDIR/berth-UID, made if missing. It must be a
// directory (not a symbolic link) owned by this user and by no one else
// writable: the sockets in it are the way into the drivers.
func socketBase() (string, error) {
	uid := os.Geteuid()
	base := filepath.Join(os.TempDir(), "berth-"+strconv.Itoa(uid))
	if err := os.Mkdir(base, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	fi, err := os.Lstat(base)
	if err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	switch {
	case !fi.IsDir():
		return "", fmt.Errorf("socket directory %s: not a directory", base)
	case !ownedBy(fi, uid):
		return "", fmt.Errorf("socket directory %s: not owned by uid %d", base, uid)
	case fi.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(base, 0o700); err != nil {
			return "", fmt.Errorf("socket directory: %w", err)
		}
	}
	return base, nil
}

// lockBase takes the lock of base under which host directories are made,
// swept and removed; unlock releases it.
func lockBase(base string) (unlock func(), err error) {
	l := flock.New(filepath.Join(base, lockFile))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("socket directory: lock %s: %w", base, err)
	}
	return func() { _ = l.Unlock() }, nil
}

// RemoveStaleSockets removes the socket directories of host processes that
// are gone (killed before they could clean up), with everything in them,
// and returns how many it removed. Open does it before it makes this
// process's own; a host may also call it at start.
func RemoveStaleSockets() (int, error) {
	base, err := socketBase()
	if err != nil {
		return 0, err
	}
	unlock, err := lockBase(base)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return removeStale(base)
}

// removeStale removes the host directories in base whose lock is free; the
// caller holds base's lock.
func removeStale(base string) (int, error) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return 0, fmt.Errorf("socket directory: %w", err)
	}
	removed := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), hostDirPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		l := flock.New(filepath.Join(dir, lockFile))
		if free, err := l.TryLock(); err != nil || !free {
			continue // locked by its owner, or unreadable
		}
		// Nobody held it: its owner is gone. The lock is let go first:
		// Windows removes no file that is open.
		_ = l.Unlock()
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// hostDirPrefix starts the name of a host process's socket directory.
const hostDirPrefix = "h"

// acquireSocketDir returns this process's socket directory, making it (and
// removing stale ones) if no Driver holds it; releaseSocketDir must follow.
func acquireSocketDir() (string, error) {
	hs := &hostSockets
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.users > 0 {
		hs.users++
		return hs.dir, nil
	}
	base, err := socketBase()
	if err != nil {
		return "", err
	}
	unlock, err := lockBase(base)
	if err != nil {
		return "", err
	}
	defer unlock()
	_, _ = removeStale(base) // what cannot be removed now may be later
	dir, err := os.MkdirTemp(base, hostDirPrefix)
	if err != nil {
		return "", fmt.Errorf("socket directory: %w", err)
	}
	lock := flock.New(filepath.Join(dir, lockFile))
	if ok, err := lock.TryLock(); err != nil || !ok {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("socket directory: lock %s: locked %v, %v", dir, ok, err)
	}
	hs.users, hs.dir, hs.lock = 1, dir, lock
	return dir, nil
}

// releaseSocketDir is called once for each acquireSocketDir that
// succeeded; the last one removes the directory.
func releaseSocketDir() {
	hs := &hostSockets
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.users--; hs.users > 0 {
		return
	}
	// Under base's lock, so no sweep sees the directory unlocked before
	// it is gone.
	if unlock, err := lockBase(filepath.Dir(hs.dir)); err == nil {
		defer unlock()
	}
	_ = hs.lock.Unlock()
	_ = os.RemoveAll(hs.dir)
	hs.dir, hs.lock = "", nil
}
