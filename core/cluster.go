package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// clusterPoll bounds the pause between two looks for a free cluster slot.
const clusterPoll = 50 * time.Millisecond

// lockItem takes the turn of (project, workItem): in this host (itemLocks:
// every process sharing the state directory) and, when other hosts share
// the state (PostgreSQL), across them all (the store's lock, which a host
// that dies lets go of with its connections). It waits up to timeout in all
// (0: as long as ctx) and fails with ErrWorkItemBusy after it.
func (c *Core) lockItem(ctx context.Context, project, workItem string, timeout time.Duration) (itemUnlock, error) {
	began := time.Now()
	unlock, err := c.locks.lock(ctx, project, workItem, timeout)
	if err != nil || !c.st.Shared() {
		return unlock, err
	}
	lctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		lctx, cancel = context.WithTimeout(ctx, timeout-time.Since(began))
	}
	defer cancel()
	unlockCluster, err := c.st.Lock(lctx, "item", project, workItem)
	if err != nil {
		unlock()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("waiting for work item %q: %w", workItem, ctx.Err())
		case lctx.Err() != nil:
			return nil, fmt.Errorf("%w: project %q, work item %q, held by another host (waited %s)", ErrWorkItemBusy, project, workItem, timeout)
		}
		return nil, err
	}
	return func() {
		unlockCluster()
		unlock()
	}, nil
}

// tryLockItem takes the turn of (project, workItem) like lockItem if no
// job holds it on any host, and fails with ErrWorkItemBusy at once if one
// does.
func (c *Core) tryLockItem(ctx context.Context, project, workItem string) (itemUnlock, error) {
	unlock, err := c.locks.tryLock(ctx, project, workItem)
	if err != nil || !c.st.Shared() {
		return unlock, err
	}
	unlockCluster, ok, err := c.st.TryLock(ctx, "item", project, workItem)
	if err != nil || !ok {
		unlock()
		if err == nil {
			err = fmt.Errorf("%w: project %q, work item %q, held by another host", ErrWorkItemBusy, project, workItem)
		}
		return nil, err
	}
	return func() {
		unlockCluster()
		unlock()
	}, nil
}

// clusterSlot takes one of the cluster's Config.ClusterMaxConcurrent job
// slots, shared by every host of the state's PostgreSQL database (a lock
// each), waiting up to timeout (0: as long as ctx): an error wrapping
// ErrQueueTimeout after it. Slots are taken by whoever looks first when one
// frees, not in order of arrival. Without a cap, or on a state no other
// host shares, it returns at once.
func (c *Core) clusterSlot(ctx context.Context, timeout time.Duration) (release func(), err error) {
	n := c.cfg.ClusterMaxConcurrent
	if n <= 0 || !c.st.Shared() {
		return func() {}, nil
	}
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	pause := time.Millisecond
	for {
		first := rand.IntN(n) // spread the hosts over the slots
		for i := range n {
			unlock, ok, err := c.st.TryLock(ctx, "slot", strconv.Itoa((first+i)%n))
			if err != nil {
				return nil, err
			}
			if ok {
				return unlock, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a cluster job slot: %w", ctx.Err())
		case <-deadline:
			return nil, fmt.Errorf("%w: all %d job slots of the cluster busy (waited %s)", ErrQueueTimeout, n, timeout)
		case <-time.After(pause):
		}
		pause = min(2*pause, clusterPoll)
	}
}
