package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/core/internal/store"
	"github.com/gofrs/flock"
)

// owners are the per-job lock files by which a job's owner proves it is
// alive: the owner holds an exclusive file lock (gofrs/flock) on
// <dir>/<job>.lock for the job's whole life. A lock is held by an open
// file, whatever PID namespace the owner runs in, and the system drops it
// when the owner dies, so a berth in a CI container sharing the state
// directory is seen alive from the host and the other way round.
type owners struct{ dir string }

func newOwners(dir string) (*owners, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &owners{dir: dir}, nil
}

func (o *owners) path(jobID string) string { return filepath.Join(o.dir, jobID+".lock") }

// ownerLock is an owner's lock on a job's file.
type ownerLock struct{ f *flock.Flock }

// release unlinks the file and drops the lock: the job is over. Call it
// only once the job's row is gone or ended.
func (l ownerLock) release() { removeLocked(l.f) }

// abandon drops the lock and leaves the file: the job's row stays, and a
// restarted owner takes the job over (Recover).
func (l ownerLock) abandon() { l.f.Close() }

// hold creates and locks the file of job jobID.
func (o *owners) hold(jobID string) (ownerLock, error) {
	path := o.path(jobID)
	f := flock.New(path, flock.SetFlag(os.O_RDWR|os.O_CREATE|os.O_EXCL), flock.SetPermissions(0o600))
	ok, err := f.TryLock()
	if err == nil && !ok {
		err = errors.New("locked by another")
	}
	if err != nil {
		f.Close()
		if !errors.Is(err, fs.ErrExist) {
			os.Remove(path)
		}
		return ownerLock{}, fmt.Errorf("job lock %s: %w", path, err)
	}
	return ownerLock{f}, nil
}

// verdict is what the reaper concludes about a job's owner.
type verdict struct {
	alive bool
	// release ends the reaper's hold on a dead owner's lock file (and
	// unlinks it when forget is true). Never nil.
	release func(forget bool)
	// lock is the dead owner's lock, now held by the caller (nil when
	// there is no file to hold): a new owner keeps it instead of calling
	// release.
	lock *ownerLock
}

// judge decides whether the owner of job j is alive. What it cannot
// decide counts as alive. A dead owner's lock is held by the caller until
// it calls release, so that two reapers never act on one job at once.
func (o *owners) judge(j store.Job) verdict {
	none := func(bool) {}
	if !j.OwnerLock {
		// A row of a berth that predates the lock files.
		return verdict{alive: alive(j.PID, j.PIDStart), release: none}
	}
	path := o.path(j.ID)
	f := flock.New(path, flock.SetFlag(os.O_RDWR))
	ok, err := f.TryLock()
	if errors.Is(err, fs.ErrNotExist) {
		// The owner unlinks its file only after its row is gone or
		// ended, and creates it before the row: a row without a file
		// has no owner left.
		return verdict{alive: false, release: none}
	}
	if err != nil || !ok {
		f.Close()
		return verdict{alive: true, release: none} // held, or undecidable
	}
	if !sameFile(f, path) {
		// Unlinked meanwhile by another reaper, or by the owner ending.
		f.Close()
		return verdict{alive: true, release: none}
	}
	return verdict{alive: false, lock: &ownerLock{f}, release: func(forget bool) {
		if forget {
			removeLocked(f)
		}
		f.Close()
	}}
}
