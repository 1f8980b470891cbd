package core

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkItemLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	_, release := helperProcess(t, "hold-lock", "BERTH_DIR="+dir, "BERTH_PROJECT=p", "BERTH_ITEM=w")
	l, err := newItemLocks(dir)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = l.lock(ctx, "p", "w", 20*time.Millisecond)
	require.ErrorIs(t, err, ErrWorkItemBusy, "lock held by another process")
	require.True(t, Retryable(err), "work item busy not retryable: %v", err)
	// Another work item is free.
	unlock, err := l.lock(ctx, "p", "other", time.Millisecond)
	require.NoError(t, err, "lock of another work item")
	unlock()
	release()
	unlock, err = l.lock(ctx, "p", "w", 0)
	require.NoError(t, err, "lock after the other process let go")
	unlock()
}

func TestWorkItemLockInProcessAndCancel(t *testing.T) {
	l, _ := newItemLocks(t.TempDir())
	ctx := context.Background()
	unlock, err := l.lock(ctx, "p", "w", 0)
	require.NoError(t, err)
	_, err = l.tryLock(ctx, "p", "w")
	require.ErrorIs(t, err, ErrWorkItemBusy, "try-lock of a held item")
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { _, err := l.lock(cctx, "p", "w", 0); done <- err }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled, "cancelled wait")
	// A second locker from another "process" view (another itemLocks on
	// the same directory) is refused by flock too.
	other, _ := newItemLocks(l.dir)
	_, err = other.tryLock(ctx, "p", "w")
	require.ErrorIs(t, err, ErrWorkItemBusy, "a second locker on the directory while the item is held")
	unlock()
	unlock, err = other.tryLock(ctx, "p", "w")
	require.NoError(t, err)
	unlock()
	assert.Empty(t, l.byID, "in-process lock table leaks")
}

func TestPruneRemovesOnlyFreeLockFiles(t *testing.T) {
	l, _ := newItemLocks(t.TempDir())
	ctx := context.Background()
	held, _ := l.lock(ctx, "p", "held", 0)
	free, _ := l.lock(ctx, "p", "free", 0)
	free()
	require.Equal(t, 1, l.prune(), "lock files pruned")
	_, err := os.Stat(filepath.Join(l.dir, lockID("p", "held")+".lock"))
	require.NoError(t, err, "held lock file removed")
	// A waiter whose file was pruned under it still excludes correctly.
	waiter := make(chan itemUnlock)
	go func() {
		u, err := l.lock(ctx, "p", "held", 0)
		assert.NoError(t, err)
		waiter <- u
	}()
	held()
	u := <-waiter
	other, _ := newItemLocks(l.dir)
	_, err = other.tryLock(ctx, "p", "held")
	assert.ErrorIs(t, err, ErrWorkItemBusy, "after prune, a second locker on a held lock")
	u()
}
