package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// lockPoll bounds the pause between two attempts at a lock file another
// process holds.
const lockPoll = 25 * time.Millisecond

// itemLocks serialises the jobs of one (project, work item), within the
// process (a channel per item) and across processes sharing the state
// directory (a file lock, gofrs/flock, on a file per item under dir). A lock file may be
// unlinked by whoever holds its lock (a sweep prunes idle ones); a locker
// that finds its file unlinked after locking starts over.
type itemLocks struct {
	dir  string
	mu   sync.Mutex
	byID map[string]*itemLock
}

type itemLock struct {
	token chan struct{} // holds one value while the item is locked in-process
	refs  int
}

// itemUnlock releases a work-item lock.
type itemUnlock func()

func newItemLocks(dir string) (*itemLocks, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &itemLocks{dir: dir, byID: map[string]*itemLock{}}, nil
}

// lockID names the lock of a (project, work item) pair.
func lockID(project, workItem string) string {
	return partsHash(project, workItem)[:32]
}

// lock takes the lock of (project, workItem), waiting up to timeout (0: as
// long as ctx) and failing with ErrWorkItemBusy after it.
func (l *itemLocks) lock(ctx context.Context, project, workItem string, timeout time.Duration) (itemUnlock, error) {
	return l.take(ctx, project, workItem, timeout, waitTurn)
}

// tryLock takes the lock of (project, workItem) if it is free, and fails
// with ErrWorkItemBusy at once if not.
func (l *itemLocks) tryLock(ctx context.Context, project, workItem string) (itemUnlock, error) {
	return l.take(ctx, project, workItem, 0, tryOnce)
}

// lockMode says whether a locker waits for a held lock.
type lockMode int

const (
	waitTurn lockMode = iota // wait until the holder lets go
	tryOnce                  // give up at once
)

func (l *itemLocks) take(ctx context.Context, project, workItem string, timeout time.Duration, mode lockMode) (itemUnlock, error) {
	id := lockID(project, workItem)
	busy := fmt.Errorf("%w: project %q, work item %q (waited %s)", ErrWorkItemBusy, project, workItem, timeout)
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}

	l.mu.Lock()
	il := l.byID[id]
	if il == nil {
		il = &itemLock{token: make(chan struct{}, 1)}
		l.byID[id] = il
	}
	il.refs++
	l.mu.Unlock()
	drop := func() {
		l.mu.Lock()
		if il.refs--; il.refs == 0 {
			delete(l.byID, id)
		}
		l.mu.Unlock()
	}

	if mode == waitTurn {
		select {
		case il.token <- struct{}{}:
		case <-ctx.Done():
			drop()
			return nil, fmt.Errorf("waiting for work item %q: %w", workItem, ctx.Err())
		case <-deadline:
			drop()
			return nil, busy
		}
	} else {
		select {
		case il.token <- struct{}{}:
		default:
			drop()
			return nil, busy
		}
	}
	f, err := l.flock(ctx, id, deadline, mode)
	if err != nil {
		<-il.token
		drop()
		if errors.Is(err, errLockBusy) {
			return nil, busy
		}
		return nil, err
	}
	return func() {
		f.Close() // releases the file lock
		<-il.token
		drop()
	}, nil
}

var errLockBusy = errors.New("lock busy")

// flock locks the file of id, polling until deadline while another process
// holds it.
func (l *itemLocks) flock(ctx context.Context, id string, deadline <-chan time.Time, mode lockMode) (*flock.Flock, error) {
	path := filepath.Join(l.dir, id+".lock")
	pause := time.Millisecond
	for {
		f := flock.New(path, flock.SetFlag(os.O_RDWR|os.O_CREATE), flock.SetPermissions(0o600))
		ok, err := f.TryLock()
		if err != nil {
			return nil, fmt.Errorf("work item lock %s: %w", path, err)
		}
		if ok {
			if sameFile(f, path) {
				return f, nil
			}
			f.Close() // unlinked by a pruner meanwhile: start over
			continue
		}
		if mode == tryOnce {
			return nil, errLockBusy
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for work item lock: %w", ctx.Err())
		case <-deadline:
			t.Stop()
			return nil, errLockBusy
		}
		if pause *= 2; pause > lockPoll {
			pause = lockPoll
		}
	}
}

// sameFile reports whether f (an open file or a held lock) is still the
// file at path.
func sameFile(f interface{ Stat() (fs.FileInfo, error) }, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// prune unlinks the lock files nobody holds, returning how many it removed.
func (l *itemLocks) prune() int {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		path := filepath.Join(l.dir, e.Name())
		f := flock.New(path, flock.SetFlag(os.O_RDWR))
		if ok, err := f.TryLock(); ok && err == nil && sameFile(f, path) && removeLocked(f) == nil {
			n++
		}
		f.Close()
	}
	return n
}

// removeLocked unlinks the file of the lock f holds, and drops the lock.
// Where a file that is open cannot be unlinked (Windows), it drops the lock
// first.
func removeLocked(f *flock.Flock) error {
	err := os.Remove(f.Path())
	f.Close()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		err = os.Remove(f.Path())
	}
	return err
}
