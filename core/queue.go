package core

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// queue caps concurrent jobs. Waiters are served first in, first out; a
// freed slot is handed straight to the oldest waiter, so no newcomer can
// overtake it.
type queue struct {
	max     int // 0: no cap
	mu      sync.Mutex
	used    int
	waiters list.List // of chan struct{}, closed when granted
}

// acquire reserves a slot, waiting up to timeout (0: as long as ctx). It
// returns ErrQueueTimeout when the wait times out and ctx's error when ctx
// ends first.
func (q *queue) acquire(ctx context.Context, timeout time.Duration) error {
	if q.max <= 0 {
		return ctx.Err()
	}
	q.mu.Lock()
	if q.used < q.max && q.waiters.Len() == 0 {
		q.used++
		q.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	elem := q.waiters.PushBack(ready)
	q.mu.Unlock()

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var err error
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		err = fmt.Errorf("waiting for a job slot: %w", ctx.Err())
	case <-expired:
		err = fmt.Errorf("%w (waited %s, %d jobs running)", ErrQueueTimeout, timeout, q.max)
	}
	q.mu.Lock()
	select {
	case <-ready:
		// Granted while giving up: pass the slot on.
		q.mu.Unlock()
		q.release()
	default:
		q.waiters.Remove(elem)
		q.mu.Unlock()
	}
	return err
}

// release frees a slot taken by acquire.
func (q *queue) release() {
	if q.max <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if front := q.waiters.Front(); front != nil {
		q.waiters.Remove(front)
		close(front.Value.(chan struct{}))
		return
	}
	q.used--
}

// waiting returns the number of jobs waiting for a slot.
func (q *queue) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiters.Len()
}
