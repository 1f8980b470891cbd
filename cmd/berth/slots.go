package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/berth-dev/berth/core"
)

// slotPoll is how often a job waiting for a slot tries again.
const slotPoll = 50 * time.Millisecond

// acquireSlot takes one of max job slots shared by every berth process on
// the state directory (lock files dir/slot-N; a slot frees itself when its
// process dies). It waits up to timeout (0: as long as ctx) and then fails
// with an error wrapping core.ErrQueueTimeout. release gives the slot back.
func acquireSlot(ctx context.Context, dir string, max int, timeout time.Duration) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("job slots: %w", err)
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(slotPoll)
	defer tick.Stop()
	for {
		for i := range max {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d", i)), os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				return nil, fmt.Errorf("job slots: %w", err)
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				return func() { f.Close() }, nil
			}
			f.Close()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline:
			return nil, fmt.Errorf("%w: all %d slots (concurrency.max) still busy after %s", core.ErrQueueTimeout, max, timeout)
		case <-tick.C:
		}
	}
}
