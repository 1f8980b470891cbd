package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/core"
)

func publish(h *Hub, n int) {
	for i := range n {
		h.Publish(core.Event{Type: core.EventSnapshotEvicted, Time: time.Unix(int64(i), 0),
			Snapshot: &core.Snapshot{WorkItem: fmt.Sprint(i)}})
	}
}

func seqs(evs []hubEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.seq
	}
	return out
}

// A subscriber that does not read is dropped once its buffer is full: the
// publisher never waits for it, and its memory stays bounded.
func TestHubDropsASubscriberThatFallsBehind(t *testing.T) {
	h := NewHub(8)
	h.subBuf = 4
	_, slow := h.subscribe("")
	publish(h, 4)
	select {
	case <-slow.dropped:
		t.Fatal("dropped with its buffer just full")
	default:
	}
	publish(h, 1)
	select {
	case <-slow.dropped:
	default:
		t.Fatal("not dropped once its buffer overflowed")
	}
	_, dropped := h.stats()
	assert.Equal(t, uint64(1), dropped)
	publish(h, 10) // no subscriber left to block on or to fill
	assert.Len(t, slow.ch, 4, "a dropped subscriber gets nothing more")
}

func TestHubReplay(t *testing.T) {
	h := NewHub(4)
	replay, _ := h.subscribe("")
	assert.Empty(t, replay, "no Last-Event-ID: nothing to replay")
	publish(h, 6) // the buffer keeps 3..6
	id := func(seq uint64) string { return fmt.Sprintf("%s-%d", h.boot, seq) }
	for _, c := range []struct {
		last string
		want []uint64
	}{
		{id(6), []uint64{}},
		{id(4), []uint64{5, 6}},
		{id(2), []uint64{3, 4, 5, 6}},     // just before the buffer: nothing missed
		{id(1), []uint64{3, 4, 5, 6}},     // too old: the whole buffer
		{id(7), []uint64{3, 4, 5, 6}},     // never given
		{"other-4", []uint64{3, 4, 5, 6}}, // another hub's (a restarted daemon's)
		{"garbage", []uint64{3, 4, 5, 6}},
	} {
		replay, sub := h.subscribe(c.last)
		h.unsubscribe(sub)
		assert.Equal(t, c.want, append([]uint64{}, seqs(replay)...), "replay after %q", c.last)
	}
	// The replayed data is what was published.
	replay, sub := h.subscribe(id(5))
	h.unsubscribe(sub)
	require.Len(t, replay, 1)
	assert.Contains(t, string(replay[0].data), `"work_item":"5"`)
	assert.Equal(t, "snapshot.evicted", replay[0].typ)
}
