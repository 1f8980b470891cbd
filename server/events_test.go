package server_test

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/server"
)

// follow reads the env's events from after lastID into a collector until
// the test ends.
func (e *env) follow(lastID string) *collector {
	e.t.Helper()
	col := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		err := e.c.Events(ctx, lastID, col.add)
		assert.ErrorIs(e.t, err, context.Canceled, "Events ends with its context")
	})
	e.t.Cleanup(func() { cancel(); wg.Wait() })
	return col
}

var jobEvents = []string{string(core.EventJobQueued), string(core.EventJobStarted), string(core.EventJobExited)}

func TestEventsOfAJobAndItsSnapshot(t *testing.T) {
	e := newEnv(t, setup{})
	// An ID this daemon never gave: every event it keeps, so none of this
	// test's is missed however late the stream opens.
	col := e.follow("unknown")
	j := e.wait(e.create(sh("w1", "echo made > /work/f")).Id)
	require.Eventually(t, func() bool { return len(col.of(j.Id)) == 4 }, time.Minute, 10*time.Millisecond,
		"the job's four events")
	assert.Equal(t, []string{string(core.EventJobQueued), string(core.EventJobStarted), string(core.EventJobCommitting),
		string(core.EventJobExited)}, col.of(j.Id), "the events of a job that commits")
	evs := col.events()
	i := slices.IndexFunc(evs, func(ev client.Event) bool { return ev.Type == core.EventSnapshotCommitted })
	require.GreaterOrEqual(t, i, 0, "a snapshot.committed event")
	require.NotNil(t, evs[i].Snapshot)
	assert.Equal(t, "w1", evs[i].Snapshot.WorkItem)
	last := evs[len(evs)-1]
	require.NotNil(t, last.Job)
	res, ok := last.Job.Result()
	require.True(t, ok, "the job.exited event carries the ended job")
	assert.True(t, res.Commit.Committed)
	ids := map[string]bool{}
	for _, ev := range evs {
		assert.NotEmpty(t, ev.ID, "event %s has an ID", ev.Type)
		assert.False(t, ids[ev.ID], "event ID %s given twice", ev.ID)
		ids[ev.ID] = true
	}
}

// A client resuming from an event still in the buffer gets exactly what
// came after it; from an ID the daemon does not know, the whole buffer.
func TestEventsResumeWithLastEventID(t *testing.T) {
	e := newEnv(t, setup{})
	all := e.follow("unknown")
	for range 3 {
		e.wait(e.create(sh("", "true")).Id)
	}
	require.Eventually(t, func() bool { return len(all.events()) == 9 }, time.Minute, 10*time.Millisecond, "nine events")
	evs := all.events()

	resumed := e.follow(evs[3].ID)
	require.Eventually(t, func() bool { return len(resumed.events()) == 5 }, time.Minute, 10*time.Millisecond,
		"the five events after the fourth")
	assert.Equal(t, ids(evs[4:]), ids(resumed.events()))

	again := e.follow("0123-4")
	require.Eventually(t, func() bool { return len(again.events()) == 9 }, time.Minute, 10*time.Millisecond,
		"the whole buffer for an unknown ID")
	assert.Equal(t, ids(evs), ids(again.events()))
}

func ids(evs []client.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// The client reconnects after a dropped connection and resumes: the
// events published while it was away arrive once each, in order. (The jobs
// go through the core: the only connections are the stream's.)
func TestEventsClientResumesAfterADroppedConnection(t *testing.T) {
	e := newEnv(t, setup{})
	col := e.follow("unknown")
	submit := func() string {
		rec, err := e.core.Submit(context.Background(), core.Job{Image: baseRef, Cmd: []string{"true"}}, core.SubmitOptions{})
		require.NoError(t, err)
		_, err = e.core.WaitJob(context.Background(), rec.ID)
		require.NoError(t, err)
		return rec.ID
	}
	first := submit()
	require.Eventually(t, func() bool { return len(col.of(first)) == 3 }, time.Minute, 10*time.Millisecond)

	e.ts.CloseClientConnections()
	second := submit()
	require.Eventually(t, func() bool { return len(col.of(second)) == 3 }, time.Minute, 10*time.Millisecond,
		"the second job's events, after the reconnection")
	assert.Equal(t, jobEvents, col.of(first), "the first job's events, once each")
	assert.Equal(t, jobEvents, col.of(second))
}

func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, setup{server: func(o *server.Options) { o.Heartbeat = 5 * time.Millisecond }})
	resp, err := e.check.Client(t, nil).Get(e.ts.URL + "/v1/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	beats := 0
	for beats < 2 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), ": heartbeat") {
			beats++
		}
	}
	assert.Equal(t, 2, beats, "heartbeats on an idle stream (scan error: %v)", sc.Err())
}
