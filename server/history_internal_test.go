package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/core"
)

// Samples are spacing apart or more but for the newest, and at most size
// are kept.
func TestDiskHistorySpacingAndBound(t *testing.T) {
	h := &diskHistory{spacing: time.Minute, size: 3}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, size int64) api.DiskSample {
		return api.DiskSample{Time: t0.Add(d), SizeBytes: size}
	}
	sizes := func() []int64 {
		var out []int64
		for _, s := range h.list() {
			out = append(out, s.SizeBytes)
		}
		return out
	}
	h.add(at(0, 1))
	h.add(at(time.Second, 2))
	assert.Equal(t, []int64{1, 2}, sizes(), "the first two are kept")
	h.add(at(2*time.Second, 3))
	assert.Equal(t, []int64{1, 3}, sizes(), "one less than a minute after the one before the last replaces the last")
	h.add(at(time.Minute, 4))
	assert.Equal(t, []int64{1, 3, 4}, sizes(), "a minute after the one before the last: kept")
	h.add(at(2*time.Minute, 5))
	assert.Equal(t, []int64{3, 4, 5}, sizes(), "the oldest goes past the bound")
}

// A sample kicked while one is taken is taken once more after it, however
// many kicks came; stop waits for the sample in progress.
func TestDiskHistoryCoalescesKicks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	calls := 0
	entered, release := make(chan struct{}), make(chan struct{})
	h := newDiskHistory(ctx, func(ctx context.Context) ([]core.Snapshot, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			close(entered)
			<-release
		}
		return []core.Snapshot{{Project: "b", Size: 2}, {Project: "a", Size: 1}, {Project: "b", Size: 3}}, nil
	}, time.Hour, func(err error) { t.Errorf("sample: %v", err) })
	h.kick()
	<-entered
	for range 5 {
		h.kick()
	}
	close(release)
	require.Eventually(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.busy
	}, time.Minute, time.Millisecond, "the samples end")
	h.stop()
	mu.Lock()
	assert.Equal(t, 2, calls, "samples taken: the first and one for the five kicks during it")
	mu.Unlock()
	samples := h.list()
	require.Len(t, samples, 2)
	assert.Equal(t, api.DiskSample{Time: samples[1].Time, SizeBytes: 6, Snapshots: 3,
		Projects: []api.ProjectUsage{{Project: "a", SizeBytes: 1, Snapshots: 1}, {Project: "b", SizeBytes: 5, Snapshots: 2}}},
		samples[1], "the sizes by project, sorted")
	h.kick()
	h.mu.Lock()
	assert.False(t, h.busy, "a kick after stop samples nothing")
	h.mu.Unlock()
}

// Without changes, samples are taken every interval.
func TestDiskHistoryTimer(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	h := newDiskHistory(context.Background(), func(ctx context.Context) ([]core.Snapshot, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return nil, nil
	}, time.Millisecond, func(err error) { t.Errorf("sample: %v", err) })
	h.kick()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls >= 3
	}, time.Minute, time.Millisecond, "timed samples")
	h.stop()
}
