package core

import (
	"context"
	"errors"
	"testing"
)

func TestRestartReusesSnapshots(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo kept > /work/f"))
	id := e.core.InstanceID()
	if err := e.core.Close(); err != nil {
		t.Fatal(err)
	}
	c := e.open()
	if c.InstanceID() != id {
		t.Fatalf("instance ID changed across a restart: %q -> %q", id, c.InstanceID())
	}
	res, out := e.run(c, job("w", "cat /work/f"))
	if !res.Hit || res.Image != first.Commit.Image || out != "kept\n" {
		t.Fatalf("after restart: hit=%v image=%q out=%q", res.Hit, res.Image, out)
	}
	if res.Commit.Generation != 2 {
		t.Fatalf("generation after restart %d, want 2", res.Commit.Generation)
	}
	snaps, err := c.Snapshots(context.Background(), "")
	if err != nil || len(snaps) != 1 || snaps[0].Image != res.Commit.Image || snaps[0].Generation != 2 {
		t.Fatalf("Snapshots: %+v, %v", snaps, err)
	}
	if snaps, err := c.Snapshots(context.Background(), "other"); err != nil || len(snaps) != 0 {
		t.Fatalf("Snapshots(other): %+v, %v", snaps, err)
	}
}

func TestTwoCoresShareOneStateDir(t *testing.T) {
	e := newEnv(t, nil)
	other := e.open()
	if other.InstanceID() != e.core.InstanceID() {
		t.Fatal("two Cores on one state dir have different instance IDs")
	}
	e.run(nil, job("w", "echo a > /work/f"))
	if res, out := e.run(other, job("w", "cat /work/f")); !res.Hit || out != "a\n" {
		t.Fatalf("the other Core did not reuse the snapshot: hit=%v out=%q", res.Hit, out)
	}
	if res, _ := e.run(nil, job("w", "true")); !res.Hit || res.Commit.Generation != 3 {
		t.Fatalf("back on the first Core: %+v", res)
	}
}

func TestCloseRefusesNewWork(t *testing.T) {
	e := newEnv(t, nil)
	e.core.Close()
	if _, err := e.core.Run(context.Background(), job("w", "true")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, err := e.core.Sweep(context.Background(), SweepOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sweep after Close: %v", err)
	}
	if err := e.core.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
