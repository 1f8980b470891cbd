package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitFor polls cond until it holds (the test's deadline bounds the wait).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestQueueIsFIFO(t *testing.T) {
	q := &queue{max: 1}
	ctx := context.Background()
	if err := q.acquire(ctx, 0); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 5)
	for i := 0; i < 5; i++ {
		go func() {
			if err := q.acquire(ctx, 0); err != nil {
				t.Error(err)
				return
			}
			order <- i
		}()
		waitFor(t, "waiter to queue", func() bool { return q.waiting() == i+1 })
	}
	for want := 0; want < 5; want++ {
		q.release()
		if got := <-order; got != want {
			t.Fatalf("slot went to waiter %d, want %d (FIFO)", got, want)
		}
	}
	q.release()
	if q.used != 0 {
		t.Fatalf("used = %d after releasing everything", q.used)
	}
}

func TestQueueTimeoutIsTypedAndRetryable(t *testing.T) {
	q := &queue{max: 1}
	ctx := context.Background()
	q.acquire(ctx, 0)
	err := q.acquire(ctx, time.Millisecond)
	if !errors.Is(err, ErrQueueTimeout) || !Retryable(err) {
		t.Fatalf("acquire on a full queue: %v, want retryable ErrQueueTimeout", err)
	}
	if q.waiting() != 0 {
		t.Fatal("timed-out waiter left in the queue")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.acquire(cctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled ctx: %v", err)
	}
	q.release()
	if err := q.acquire(ctx, time.Millisecond); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}
