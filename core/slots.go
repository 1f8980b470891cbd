package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// slots caps the jobs that run at once across every process sharing the
// state directory, first come first served.
//
// A job that wants a slot takes a ticket: a file <dir>/<number>-<random>
// whose number is one more than any ticket there, created and locked by its
// owner under the line's guard (an exclusive lock on <dir>/guard), and held
// locked until the owner gives the slot back. A ticket is admitted when
// fewer than max live tickets are ahead of it; the tickets are counted
// under a shared lock on the guard, so a ticket is never seen before its
// lock. A ticket nobody locks belongs to a process that died: it is not
// counted, and the next arrival removes it. So a waiter that came first is
// admitted first, in this process or another, and a process that dies,
// waiting or holding, neither keeps a slot nor blocks the line.
//
// A waiter looks at the line again at once when a ticket of its own
// process leaves it, and otherwise after a pause that grows to lockPoll.
type slots struct {
	dir string
	max int // 0: no cap

	mu    sync.Mutex
	moved chan struct{} // closed (and replaced) when a ticket of this process leaves the line
}

// guardFile is the lock file that orders arrivals against readers.
const guardFile = "guard"

func newSlots(dir string, max int) (*slots, error) {
	if max > 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	return &slots{dir: dir, max: max, moved: make(chan struct{})}, nil
}

// acquire takes a slot, waiting up to timeout (0: as long as ctx). It
// returns an error wrapping ErrQueueTimeout when the wait times out and one
// wrapping ctx's error when ctx ends first. release gives the slot back.
func (s *slots) acquire(ctx context.Context, timeout time.Duration) (release func(), err error) {
	if s.max <= 0 {
		return func() {}, ctx.Err()
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	pause := time.Millisecond
	wait := func(moved <-chan struct{}) error {
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-t.C:
			pause = min(2*pause, lockPoll)
		case <-moved:
			pause = time.Millisecond
		case <-ctx.Done():
			return fmt.Errorf("waiting for a job slot: %w", ctx.Err())
		case <-expired:
			return fmt.Errorf("%w (waited %s; concurrency max %d)", ErrQueueTimeout, timeout, s.max)
		}
		return nil
	}

	var tk *ticket
	for {
		moved := s.watch()
		if tk, err = s.take(); err != nil {
			return nil, err
		}
		if tk != nil {
			break
		}
		if err := wait(moved); err != nil {
			return nil, err
		}
	}
	for {
		moved := s.watch()
		ahead, ok, err := s.ahead(tk.number)
		if err != nil {
			s.leave(tk)
			return nil, err
		}
		if ok && ahead < s.max {
			return func() { s.leave(tk) }, nil
		}
		if err := wait(moved); err != nil {
			s.leave(tk)
			return nil, err
		}
	}
}

// ticket is a place in the line, held by a lock on its file.
type ticket struct {
	number uint64
	path   string
	lock   *flock.Flock
}

// watch returns the channel closed when a ticket of this process next
// leaves the line.
func (s *slots) watch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.moved
}

// leave takes tk out of the line (giving back its slot, if it had one)
// and wakes this process's waiters.
func (s *slots) leave(tk *ticket) {
	// Unlinked before it is unlocked where the system allows it, so no
	// reader ever finds it unlocked; elsewhere (Windows) after.
	err := os.Remove(tk.path)
	tk.lock.Close()
	if err != nil {
		os.Remove(tk.path)
	}
	s.mu.Lock()
	close(s.moved)
	s.moved = make(chan struct{})
	s.mu.Unlock()
}

// take joins the line: under the guard's exclusive lock, it removes the
// tickets of dead processes and makes and locks the next ticket. It returns
// nil (and no error) when the guard is busy.
func (s *slots) take() (*ticket, error) {
	guard := flock.New(filepath.Join(s.dir, guardFile), flock.SetPermissions(0o644))
	if ok, err := guard.TryLock(); !ok || err != nil {
		return nil, slotsErr(err)
	}
	defer guard.Close()
	line, err := s.line()
	if err != nil {
		return nil, err
	}
	next := uint64(1)
	if len(line) > 0 {
		next = line[len(line)-1].number + 1
	}
	s.removeDead(line)
	b := make([]byte, 4)
	rand.Read(b)
	path := filepath.Join(s.dir, fmt.Sprintf("%020d-%s", next, hex.EncodeToString(b)))
	lock := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_EXCL|os.O_RDWR), flock.SetPermissions(0o644))
	ok, err := lock.TryLock()
	if err == nil && !ok {
		err = errors.New("locked by another")
	}
	if err != nil {
		lock.Close()
		os.Remove(path)
		return nil, slotsErr(fmt.Errorf("ticket %s: %w", path, err))
	}
	return &ticket{number: next, path: path, lock: lock}, nil
}

// ahead counts the live tickets ahead of number, up to max. ok is false
// when the guard is busy (a ticket is being made): nothing was counted.
func (s *slots) ahead(number uint64) (n int, ok bool, err error) {
	guard := flock.New(filepath.Join(s.dir, guardFile), flock.SetPermissions(0o644))
	if ok, err := guard.TryRLock(); !ok || err != nil {
		return 0, false, slotsErr(err)
	}
	defer guard.Close()
	line, err := s.line()
	if err != nil {
		return 0, false, err
	}
	for _, t := range line {
		if t.number >= number || n >= s.max {
			break
		}
		if live(t.path) {
			n++
		}
	}
	return n, true, nil
}

// live reports whether the ticket at path is held. A ticket that cannot be
// probed counts as held: a slot is never given twice.
func live(path string) bool {
	probe := flock.New(path, flock.SetFlag(os.O_RDONLY))
	ok, err := probe.TryRLock()
	probe.Close()
	if errors.Is(err, fs.ErrNotExist) {
		return false // left the line meanwhile
	}
	return err != nil || !ok
}

// removeDead removes the tickets nobody holds. The caller holds the guard's
// exclusive lock, so no reader is probing them.
func (s *slots) removeDead(line []ticket) int {
	n := 0
	for _, t := range line {
		probe := flock.New(t.path, flock.SetFlag(os.O_RDONLY))
		if ok, err := probe.TryLock(); ok && err == nil {
			if os.Remove(t.path) == nil {
				n++
			}
		}
		probe.Close()
	}
	return n
}

// prune removes the tickets of dead processes, returning how many it
// removed. It does nothing when the guard is busy.
func (s *slots) prune() int {
	if s.max <= 0 {
		return 0
	}
	guard := flock.New(filepath.Join(s.dir, guardFile), flock.SetPermissions(0o644))
	if ok, err := guard.TryLock(); !ok || err != nil {
		return 0
	}
	defer guard.Close()
	line, err := s.line()
	if err != nil {
		return 0
	}
	return s.removeDead(line)
}

// line lists the tickets in the directory, first come first.
func (s *slots) line() ([]ticket, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, slotsErr(err)
	}
	var line []ticket
	for _, e := range entries { // sorted by name: the numbers have a fixed width
		num, _, ok := strings.Cut(e.Name(), "-")
		if !ok || len(num) != 20 {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			continue
		}
		line = append(line, ticket{number: n, path: filepath.Join(s.dir, e.Name())})
	}
	return line, nil
}

func slotsErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("job slots: %w", err)
}
