package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSnapshotQueries(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		ctx := context.Background()
		s := k.fresh(t).open(t)
		for i, p := range []string{"a", "b", "c"} {
			n := snap(p, "w", 1)
			n.Size = int64(1) << (33 + i) // beyond 32 bits
			n.Created = t0.Add(time.Duration(i) * time.Hour)
			n.LastUsed = t0.Add(time.Duration(-i) * time.Hour)
			require.NoError(t, s.Put(ctx, n))
		}
		other := snap("a", "w", 1)
		other.Runtime = "docker"
		require.NoError(t, s.Put(ctx, other))

		n, bytes, err := s.Totals(ctx)
		require.NoError(t, err)
		assert.Equal(t, 4, n, "count")
		assert.Equal(t, int64(1)<<33+int64(1)<<34+int64(1)<<35+100, bytes, "total size")

		got, err := s.CreatedBefore(ctx, t0.Add(time.Hour), "b")
		require.NoError(t, err)
		require.Len(t, got, 1, "CreatedBefore(b)")
		got, err = s.CreatedBefore(ctx, t0, "b")
		require.NoError(t, err)
		assert.Empty(t, got, "CreatedBefore(b) before it was made")
		got, err = s.OthersCreatedBefore(ctx, t0.Add(2*time.Hour), []string{"a"})
		require.NoError(t, err)
		require.Len(t, got, 2, "OthersCreatedBefore(not a)")
		assert.Equal(t, "c", got[0].Project, "least recently used first")
		got, err = s.OthersCreatedBefore(ctx, t0.Add(2*time.Hour), nil)
		require.NoError(t, err)
		assert.Len(t, got, 4, "OthersCreatedBefore(none excepted)")

		ids, err := s.ImageIDs(ctx, "fake")
		require.NoError(t, err)
		assert.Equal(t, map[string]bool{"sha256:aw": true, "sha256:bw": true, "sha256:cw": true}, ids, "ImageIDs(fake)")
		got, err = s.ByImageID(ctx, "docker", "sha256:aw")
		require.NoError(t, err)
		require.Len(t, got, 1, "ByImageID")
		assert.Equal(t, "docker", got[0].Runtime, "ByImageID's runtime")
		got, err = s.ListWorkItem(ctx, "a", "w")
		require.NoError(t, err)
		require.Len(t, got, 2, "ListWorkItem")
		assert.Equal(t, "docker", got[0].Runtime, "ListWorkItem's order")

		var seen []string
		err = s.Oldest(ctx, func(n Snapshot) (bool, error) {
			seen = append(seen, n.Runtime+"/"+n.Project)
			// fn may write to the store while the rows are read.
			_, _, err := s.Remove(ctx, n.Key, "")
			return len(seen) < 2, err
		})
		require.NoError(t, err)
		assert.Equal(t, []string{"fake/c", "fake/b"}, seen, "Oldest")
		n, _, _ = s.Totals(ctx)
		assert.Equal(t, 2, n, "count after removing in Oldest")
	})
}

// TestLookupOfNothing: a key never seen has no snapshot and zero counters.
func TestLookupOfNothing(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		e, err := k.fresh(t).open(t).Lookup(context.Background(), Key{Runtime: "fake", Project: "p", WorkItem: "nothing"})
		require.NoError(t, err)
		assert.Equal(t, Entry{}, e)
	})
}

func TestJobOwnerAndEnd(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		ctx := context.Background()
		s := k.fresh(t).open(t)
		require.NoError(t, s.AddJob(ctx, Job{ID: "j", Runtime: "fake", PID: 1, Started: t0, OwnerLock: true, Durable: true}))
		require.NoError(t, s.SetJobOwner(ctx, "j", 77, 1<<50))
		require.NoError(t, s.EndJob(ctx, "j"))
		jobs, err := s.Jobs(ctx)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		j := jobs[0]
		assert.Equal(t, 77, j.PID, "PID")
		assert.Equal(t, uint64(1<<50), j.PIDStart, "PID start")
		assert.True(t, j.OwnerLock && j.Ended && j.Durable, "flags: %+v", j)
		assert.True(t, j.Deadline.IsZero(), "no deadline: %v", j.Deadline)
		require.Error(t, s.AddJob(ctx, Job{ID: "j", Runtime: "fake"}), "a second job of one ID")
	})
}

func TestRecords(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		ctx := context.Background()
		s := k.fresh(t).open(t)
		add := func(id, key, state, item string, created time.Time) Record {
			r := Record{ID: id, IdempotencyKey: key, State: state, Project: "p", WorkItem: item, Created: created,
				Data: []byte(`{"id":"` + id + `"}`), Resume: []byte("resume")}
			got, dup, err := s.AddRecord(ctx, r)
			require.NoError(t, err, "AddRecord %s", id)
			require.False(t, dup, "AddRecord %s: dup", id)
			assert.Equal(t, r, got)
			return r
		}
		r1 := add("r1", "k1", "running", "w1", t0)
		add("r2", "", "queued", "w2", t0.Add(time.Second))
		add("r3", "", "queued", "w1", t0.Add(2*time.Second))

		got, dup, err := s.AddRecord(ctx, Record{ID: "r4", IdempotencyKey: "k1", State: "queued", Data: []byte("{}")})
		require.NoError(t, err)
		assert.True(t, dup, "AddRecord with a taken key")
		assert.Equal(t, "r1", got.ID, "the record holding the key")
		_, err = s.GetRecord(ctx, "r4")
		assert.ErrorIs(t, err, ErrNoRecord, "a duplicate is stored")

		r1.State, r1.Ended, r1.Resume = "succeeded", t0.Add(time.Minute), nil
		require.NoError(t, s.UpdateRecord(ctx, r1))
		got, err = s.GetRecord(ctx, "r1")
		require.NoError(t, err)
		assert.Equal(t, "succeeded", got.State)
		assert.True(t, got.Ended.Equal(r1.Ended), "ended %v, want %v", got.Ended, r1.Ended)
		assert.Nil(t, got.Resume, "resume after it was cleared")
		assert.Equal(t, r1.Data, got.Data)

		list, err := s.Records(ctx, RecordFilter{States: []string{"queued", "running"}})
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "r3", list[0].ID, "newest first")
		list, err = s.Records(ctx, RecordFilter{WorkItem: "w1", Project: "p", Limit: 1})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, "r3", list[0].ID)

		for i := range 5 {
			r := add(fmt.Sprint("e", i), "", "failed", "w", t0)
			r.Ended = t0.Add(time.Duration(i) * time.Second)
			require.NoError(t, s.UpdateRecord(ctx, r))
		}
		pruned, err := s.PruneRecords(ctx, 3)
		require.NoError(t, err)
		// Ended: r1 (a minute), e4..e0; kept: r1, e4, e3.
		assert.ElementsMatch(t, []string{"e0", "e1", "e2"}, pruned, "pruned")
		list, _ = s.Records(ctx, RecordFilter{})
		assert.Len(t, list, 5, "records after pruning (2 live, 3 ended)")
	})
}

// TestAdoptRacesKeepTheNewest: adoptions of one key from many stores at
// once, each of another generation, leave the newest: a transaction that
// lost a conflict is run again, never half applied.
func TestAdoptRacesKeepTheNewest(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		st := k.fresh(t)
		ctx := context.Background()
		stores := []*Store{st.open(t), st.open(t), st.open(t)}
		var wg sync.WaitGroup
		for gen := 1; gen <= 12; gen++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := stores[gen%len(stores)].Adopt(ctx, snap("p", "w", gen))
				assert.NoError(t, err, "Adopt generation %d", gen)
			}()
		}
		wg.Wait()
		e, err := stores[0].Lookup(ctx, Key{Runtime: "fake", Project: "p", WorkItem: "w"})
		require.NoError(t, err)
		assert.Equal(t, 12, e.Snapshot.Generation, "generation kept")
		assert.Equal(t, 12, e.LastGeneration, "last generation")
	})
}

// TestPostgresHostsKeepTheirOwn: state directories sharing one PostgreSQL
// database are hosts of one cluster: each keeps its own ID and its own jobs
// (no host reads another's as its own), and their stores see one another's
// locks.
func TestPostgresHostsKeepTheirOwn(t *testing.T) {
	ctx := context.Background()
	a := postgresKind.fresh(t)
	const idA = "00112233aabbccdd"
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, instanceFile), []byte(idA+"\n"), 0o600))
	sa := a.open(t)
	id, err := sa.InstanceID(ctx)
	require.NoError(t, err)
	assert.Equal(t, idA, id, "the directory's ID")

	b := state{dir: t.TempDir(), opts: a.opts}
	sb := b.open(t)
	idB, err := sb.InstanceID(ctx)
	require.NoError(t, err)
	assert.True(t, validInstanceID(idB), "made ID %q", idB)
	assert.NotEqual(t, idA, idB, "two hosts share an ID")
	again, err := b.open(t).InstanceID(ctx)
	require.NoError(t, err)
	assert.Equal(t, idB, again, "ID after reopen")

	require.NoError(t, sa.AddJob(ctx, Job{ID: "ja", Runtime: "fake", Project: "p", WorkItem: "w", Started: time.Now()}))
	jobs, err := sb.Jobs(ctx)
	require.NoError(t, err)
	assert.Empty(t, jobs, "host B sees host A's jobs")
	jobs, err = sa.Jobs(ctx)
	require.NoError(t, err)
	assert.Len(t, jobs, 1, "host A's own jobs")

	assert.True(t, sa.Shared(), "a PostgreSQL store is shared")
	unlock, err := sa.Lock(ctx, "item", "p", "w")
	require.NoError(t, err)
	_, ok, err := sb.TryLock(ctx, "item", "p", "w")
	require.NoError(t, err)
	assert.False(t, ok, "host B took the work item host A holds")
	other, ok, err := sb.TryLock(ctx, "item", "p", "other")
	require.NoError(t, err)
	require.True(t, ok, "another work item")
	other()
	unlock()
	unlockB, ok, err := sb.TryLock(ctx, "item", "p", "w")
	require.NoError(t, err)
	require.True(t, ok, "host B after host A let go")

	// A lock waited for with a deadline gives up, and one whose holder's
	// session ends (as when its process dies) is free.
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = sa.Lock(tctx, "item", "p", "w")
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "Lock past its deadline")
	done := make(chan error, 1)
	go func() {
		unlock, err := sa.Lock(ctx, "item", "p", "w")
		if err == nil {
			unlock()
		}
		done <- err
	}()
	_ = unlockB
	key := uint64(sb.b.(*postgresBackend).lockKey([]string{"item", "p", "w"}))
	var pid int
	require.NoError(t, pgDB.QueryRow("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2",
		int64(key>>32), int64(key&0xffffffff)).Scan(&pid), "the session holding host B's lock")
	_, err = pgDB.Exec("SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err, "Lock once the holder's store closed")
	case <-time.After(10 * time.Second):
		t.Fatal("the lock of a closed store is still held")
	}
}

func TestSQLiteLocksAreLocal(t *testing.T) {
	s := sqliteKind.fresh(t).open(t)
	assert.False(t, s.Shared(), "a SQLite store is shared")
	unlock, err := s.Lock(context.Background(), "item", "p", "w")
	require.NoError(t, err)
	unlock()
}

func TestPostgresRebind(t *testing.T) {
	var b *postgresBackend
	for in, want := range map[string]string{
		"SELECT 1":                               "SELECT 1",
		"a = ? AND b IN (?,?)":                   "a = $1 AND b IN ($2,$3)",
		"x = ?1 WHERE y < ?1 AND z = ?2":         "x = $1 WHERE y < $1 AND z = $2",
		"LIMIT ? OFFSET ? -- ?10 stays numbered": "LIMIT $1 OFFSET $2 -- $10 stays numbered",
	} {
		assert.Equal(t, want, b.rebind(in), "rebind(%q)", in)
	}
}

// TestSharedSnapshots: a work item's shared snapshot keeps the newest
// generation, reports the one it replaced, and is seen by every host of
// the cluster.
func TestSharedSnapshots(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		ctx := context.Background()
		st := k.fresh(t)
		a := st.open(t)
		b := a
		if k.name == "postgres" {
			b = state{dir: t.TempDir(), opts: st.opts}.open(t) // another host
		}
		now := time.Unix(1700000000, 0)
		g := func(gen int, digest string) Shared {
			return Shared{Project: "p", WorkItem: "w", Generation: gen, Repository: "127.0.0.1:5000/berth",
				Digest: digest, BaseImage: "base", BaseImageID: "sha256:b", Driver: "docker", Host: "h",
				Size: 10, Layers: 2, Created: now.Add(time.Duration(gen) * time.Minute), LastUsed: now}
		}
		_, found, err := b.LookupShared(ctx, "p", "w")
		require.NoError(t, err)
		require.False(t, found, "a shared snapshot before any")
		stored, _, replaced, err := a.PutShared(ctx, g(1, "sha256:1"))
		require.NoError(t, err)
		require.True(t, stored)
		require.False(t, replaced)
		sh, found, err := b.LookupShared(ctx, "p", "w")
		require.NoError(t, err)
		require.True(t, found, "host B sees host A's shared snapshot")
		assert.Equal(t, g(1, "sha256:1"), sh)
		assert.Equal(t, "127.0.0.1:5000/berth@sha256:1", sh.Ref())

		stored, old, replaced, err := b.PutShared(ctx, g(2, "sha256:2"))
		require.NoError(t, err)
		require.True(t, stored && replaced, "a newer generation")
		assert.Equal(t, "sha256:1", old.Digest, "the one replaced")
		stored, _, _, err = a.PutShared(ctx, g(2, "sha256:other"))
		require.NoError(t, err)
		assert.False(t, stored, "the same generation again")

		require.NoError(t, a.TouchShared(ctx, "p", "w", "sha256:2", now.Add(time.Hour)))
		list, err := b.ListShared(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, now.Add(time.Hour), list[0].LastUsed, "last used")

		_, found, err = a.RemoveShared(ctx, "p", "w", "sha256:1")
		require.NoError(t, err)
		assert.False(t, found, "removed by an old digest")
		sh, found, err = a.RemoveShared(ctx, "p", "w", "sha256:2")
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, 2, sh.Generation)
		_, found, err = b.LookupShared(ctx, "p", "w")
		require.NoError(t, err)
		assert.False(t, found, "after removal")
	})
}
