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

// TestPostgresInstanceIDBelongsToTheDatabase: state directories sharing one
// PostgreSQL database share its ID, which the first directory's own ID
// seeded.
func TestPostgresInstanceIDBelongsToTheDatabase(t *testing.T) {
	ctx := context.Background()
	a := postgresKind.fresh(t)
	const idA = "00112233aabbccdd"
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, instanceFile), []byte(idA+"\n"), 0o600))
	id, err := a.open(t).InstanceID(ctx)
	require.NoError(t, err)
	assert.Equal(t, idA, id, "the first directory's ID seeds the database's")

	b := state{dir: t.TempDir(), opts: a.opts}
	require.NoError(t, os.WriteFile(filepath.Join(b.dir, instanceFile), []byte("ffeeddccbbaa9988\n"), 0o600))
	id, err = b.open(t).InstanceID(ctx)
	require.NoError(t, err)
	assert.Equal(t, idA, id, "a second directory on the database")

	// A fresh database with no directory ID makes one.
	c := postgresKind.fresh(t)
	id, err = c.open(t).InstanceID(ctx)
	require.NoError(t, err)
	assert.True(t, validInstanceID(id), "made ID %q", id)
	again, err := c.open(t).InstanceID(ctx)
	require.NoError(t, err)
	assert.Equal(t, id, again, "ID after reopen")
}

func TestPostgresRebind(t *testing.T) {
	var b postgresBackend
	for in, want := range map[string]string{
		"SELECT 1":                               "SELECT 1",
		"a = ? AND b IN (?,?)":                   "a = $1 AND b IN ($2,$3)",
		"x = ?1 WHERE y < ?1 AND z = ?2":         "x = $1 WHERE y < $1 AND z = $2",
		"LIMIT ? OFFSET ? -- ?10 stays numbered": "LIMIT $1 OFFSET $2 -- $10 stays numbered",
	} {
		assert.Equal(t, want, b.rebind(in), "rebind(%q)", in)
	}
}
