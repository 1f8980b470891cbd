package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
)

func TestSlots(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r1, err := acquireSlot(ctx, dir, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := acquireSlot(ctx, dir, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquireSlot(ctx, dir, 2, 10*time.Millisecond); !errors.Is(err, core.ErrQueueTimeout) {
		t.Fatalf("third slot of two: %v, want ErrQueueTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := acquireSlot(cctx, dir, 2, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	r1()
	r3, err := acquireSlot(ctx, dir, 2, time.Minute)
	if err != nil {
		t.Fatalf("slot after a release: %v", err)
	}
	r2()
	r3()
}
