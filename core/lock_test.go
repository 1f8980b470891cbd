package core

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWorkItemLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	_, release := helperProcess(t, "hold-lock", "BERTH_DIR="+dir, "BERTH_PROJECT=p", "BERTH_ITEM=w")
	l, err := newItemLocks(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = l.lock(ctx, "p", "w", 20*time.Millisecond)
	if !errors.Is(err, ErrWorkItemBusy) || !Retryable(err) {
		t.Fatalf("lock held by another process: %v, want retryable ErrWorkItemBusy", err)
	}
	// Another work item is free.
	unlock, err := l.lock(ctx, "p", "other", time.Millisecond)
	if err != nil {
		t.Fatalf("lock of another work item: %v", err)
	}
	unlock()
	release()
	unlock, err = l.lock(ctx, "p", "w", 0)
	if err != nil {
		t.Fatalf("lock after the other process let go: %v", err)
	}
	unlock()
}

func TestWorkItemLockInProcessAndCancel(t *testing.T) {
	l, _ := newItemLocks(t.TempDir())
	ctx := context.Background()
	unlock, err := l.lock(ctx, "p", "w", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.tryLock(ctx, "p", "w"); !errors.Is(err, ErrWorkItemBusy) {
		t.Fatalf("try-lock of a held item: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { _, err := l.lock(cctx, "p", "w", 0); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	// A second locker from another "process" view (another itemLocks on
	// the same directory) is refused by flock too.
	other, _ := newItemLocks(l.dir)
	if _, err := other.tryLock(ctx, "p", "w"); !errors.Is(err, ErrWorkItemBusy) {
		t.Fatalf("flock did not exclude a second locker: %v", err)
	}
	unlock()
	unlock, err = other.tryLock(ctx, "p", "w")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if len(l.byID) != 0 {
		t.Fatalf("in-process lock table leaks: %d entries", len(l.byID))
	}
}

func TestPruneRemovesOnlyFreeLockFiles(t *testing.T) {
	l, _ := newItemLocks(t.TempDir())
	ctx := context.Background()
	held, _ := l.lock(ctx, "p", "held", 0)
	free, _ := l.lock(ctx, "p", "free", 0)
	free()
	if n := l.prune(); n != 1 {
		t.Fatalf("prune removed %d files, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(l.dir, lockID("p", "held")+".lock")); err != nil {
		t.Fatalf("held lock file removed: %v", err)
	}
	// A waiter whose file was pruned under it still excludes correctly.
	waiter := make(chan itemUnlock)
	go func() {
		u, err := l.lock(ctx, "p", "held", 0)
		if err != nil {
			t.Error(err)
		}
		waiter <- u
	}()
	held()
	u := <-waiter
	other, _ := newItemLocks(l.dir)
	if _, err := other.tryLock(ctx, "p", "held"); !errors.Is(err, ErrWorkItemBusy) {
		t.Fatalf("after prune, a second locker got a held lock: %v", err)
	}
	u()
}
