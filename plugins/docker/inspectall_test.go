package docker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

// TestInspectAll checks the concurrent inspects of a listing: results in
// the listing's order, vanished items skipped, at most inspectWorkers at a
// time, and the first real error returned.
func TestInspectAll(t *testing.T) {
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	var running, peak atomic.Int32
	inspect := func(_ context.Context, id string) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		i, _ := strconv.Atoi(id)
		if i%7 == 3 {
			return 0, fmt.Errorf("inspect %s: %w", id, runtime.ErrNotFound)
		}
		return i, nil
	}
	got, err := inspectAll(context.Background(), ids, inspect)
	require.NoError(t, err)
	var want []int
	for i := range ids {
		if i%7 != 3 {
			want = append(want, i)
		}
	}
	require.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "got %v, want %v", got, want)
	require.LessOrEqual(t, peak.Load(), int32(inspectWorkers), "inspects at once")

	boom := errors.New("boom")
	_, err = inspectAll(context.Background(), ids, func(_ context.Context, id string) (int, error) {
		if id == "20" {
			return 0, boom
		}
		return 0, nil
	})
	require.ErrorIs(t, err, boom)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = inspectAll(ctx, ids, func(ctx context.Context, _ string) (int, error) { return 0, ctx.Err() })
	require.ErrorIs(t, err, context.Canceled, "cancelled: got")

	got, err = inspectAll(context.Background(), nil, inspect)
	require.NoError(t, err, "no IDs")
	require.NotNil(t, got, "no IDs: want an empty, non-nil slice")
	require.Empty(t, got, "no IDs")
}
