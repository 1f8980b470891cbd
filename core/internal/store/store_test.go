package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func snap(project, item string, gen int) Snapshot {
	return Snapshot{Key: Key{Runtime: "fake", Project: project, WorkItem: item},
		Image: "berth/x:g1", ImageID: "sha256:" + project + item, BaseImage: "base:1", BaseImageID: "sha256:base",
		Size: 100, Layers: gen + 1, Generation: gen, Created: t0, LastUsed: t0}
}

func TestOpenCreatesVersionedSchema(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		s := k.fresh(t).open(t)
		assert.Equal(t, knownVersion(s), schemaVersion(t, s), "schema version")
	})
}

func TestSQLiteIsInWALMode(t *testing.T) {
	s := open(t, t.TempDir())
	var mode string
	require.NoError(t, s.db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode, "journal_mode")
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		st := k.fresh(t)
		s := st.open(t)
		setSchemaVersion(t, s, 999)
		s.Close()
		_, err := Open(context.Background(), st.dir, st.opts...)
		assert.ErrorIs(t, err, ErrNewerSchema, "Open of a newer schema")
	})
}

// TestOpenAtOnceMigratesOnce: stores opening one new database at once (hosts
// starting together) all open it, migrated once.
func TestOpenAtOnceMigratesOnce(t *testing.T) {
	eachKind(t, func(t *testing.T, k kind) {
		st := k.fresh(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(context.Background(), st.dir, st.opts...)
				if assert.NoError(t, err, "Open at once") {
					s.Close()
				}
			}()
		}
		wg.Wait()
		s := st.open(t)
		assert.Equal(t, knownVersion(s), schemaVersion(t, s), "schema version")
	})
}

func TestOpenRefusesAnUnknownStore(t *testing.T) {
	_, err := Open(context.Background(), t.TempDir(), WithURL("mysql://root:hunter2@db/berth"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2", "the error shows the URL's password")
}

// TestSQLiteUpgradesInPlace: a state directory made by an older berth (schema
// version 1) is migrated forward on Open, its rows kept.
func TestSQLiteUpgradesInPlace(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, fileName))
	require.NoError(t, err)
	_, err = db.Exec(sqliteMigrations[0] + `;
		INSERT INTO snapshots VALUES ('fake', 'p', 'w', 'berth/x:g2', 'sha256:pw', 'base:1', 'sha256:base', 100, 3, 2, 1, 2);
		INSERT INTO work_items VALUES ('fake', 'p', 'w', 2, 0);
		INSERT INTO jobs VALUES ('j1', 'fake', 'p', 'w', 'c1', 42, 7, 3);
		PRAGMA user_version = 1;`)
	require.NoError(t, err, "make a version 1 database")
	db.Close()
	s := open(t, dir)
	assert.Equal(t, sqliteVersion, schemaVersion(t, s), "schema version after Open")
	e, err := s.Lookup(context.Background(), Key{Runtime: "fake", Project: "p", WorkItem: "w"})
	require.NoError(t, err)
	require.True(t, e.Found, "the snapshot of version 1")
	assert.Equal(t, 2, e.Snapshot.Generation, "generation")
	jobs, err := s.Jobs(context.Background())
	require.NoError(t, err)
	require.Len(t, jobs, 1, "jobs")
	assert.False(t, jobs[0].OwnerLock || jobs[0].Ended || jobs[0].Durable, "a version 1 job: %+v", jobs[0])
}

func TestInstanceIDBelongsToTheDirectory(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// Several stores opening the same new directory at once agree.
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dir)
			if !assert.NoError(t, err) {
				return
			}
			defer s.Close()
			ids[i], err = s.InstanceID(ctx)
			if !assert.NoError(t, err) {
			}
		}()
	}
	wg.Wait()
	require.NotEmpty(t, ids[0], "instance ID")
	for _, id := range ids {
		require.Equal(t, ids[0], id, "instance IDs of one directory: %q", ids)
	}
	again, err := open(t, dir).InstanceID(ctx)
	require.NoError(t, err)
	require.Equal(t, ids[0], again, "instance ID after reopen")
	other, _ := open(t, t.TempDir()).InstanceID(ctx)
	assert.NotEqual(t, ids[0], other, "two state directories share an instance ID")
}

func TestPutLookupSurvivesReopen(t *testing.T) {
	eachKind(t, testPutLookupSurvivesReopen)
}

func testPutLookupSurvivesReopen(t *testing.T, k kind) {
	st := k.fresh(t)
	ctx := context.Background()
	s := st.open(t)
	want := snap("p", "w", 1)
	want.Created, want.LastUsed = t0.Add(123456789), t0.Add(987654321) // nanoseconds kept
	require.NoError(t, s.Put(ctx, want))
	s.Close()
	e, err := st.open(t).Lookup(ctx, want.Key)
	require.NoError(t, err, "Lookup after reopen")
	require.True(t, e.Found, "Lookup after reopen: %+v", e)
	require.Equal(t, 1, e.LastGeneration, "last generation after reopen")
	got := e.Snapshot
	require.True(t, got.Created.Equal(want.Created), "created %v, want %v", got.Created, want.Created)
	require.True(t, got.LastUsed.Equal(want.LastUsed), "last used %v, want %v", got.LastUsed, want.LastUsed)
	got.Created, got.LastUsed = want.Created, want.LastUsed
	assert.Equal(t, want, got)
}

func TestRemoveIsConditionalAndTombstones(t *testing.T) {
	eachKind(t, testRemoveIsConditionalAndTombstones)
}

func testRemoveIsConditionalAndTombstones(t *testing.T, k kind) {
	ctx := context.Background()
	s := k.fresh(t).open(t)
	n := snap("p", "w", 3)
	s.Put(ctx, n)
	_, found, err := s.Remove(ctx, n.Key, "sha256:other")
	require.NoError(t, err)
	require.False(t, found, "Remove with another image ID removed the entry")
	_, found, err = s.Remove(ctx, n.Key, n.ImageID)
	require.NoError(t, err)
	require.True(t, found, "Remove found no entry")
	e, _ := s.Lookup(ctx, n.Key)
	require.False(t, e.Found, "entry found after Remove")
	require.Equal(t, 3, e.DroppedThrough, "dropped through after Remove")
	require.Equal(t, 3, e.LastGeneration, "last generation after Remove")
	// A dropped generation is never adopted again; a newer one is.
	ok, err := s.Adopt(ctx, n)
	require.NoError(t, err)
	require.False(t, ok, "adopted a dropped generation")
	n4 := snap("p", "w", 4)
	ok, err = s.Adopt(ctx, n4)
	require.NoError(t, err)
	require.True(t, ok, "did not adopt a newer generation")
	// An older generation than the entry's is not adopted.
	ok, _ = s.Adopt(ctx, snap("p", "w", 2))
	require.False(t, ok, "adopted an older generation over a newer entry")
}

func TestListOrderAndProjectFilter(t *testing.T) {
	eachKind(t, testListOrderAndProjectFilter)
}

func testListOrderAndProjectFilter(t *testing.T, k kind) {
	ctx := context.Background()
	s := k.fresh(t).open(t)
	for i, k := range []string{"c", "a", "b"} {
		n := snap("p", k, 1)
		n.LastUsed = t0.Add(time.Duration(i) * time.Minute)
		s.Put(ctx, n)
	}
	s.Put(ctx, snap("q", "z", 1))
	all, err := s.List(ctx, "p")
	require.NoError(t, err)
	require.Len(t, all, 3, "List(p)")
	for i, want := range []string{"c", "a", "b"} {
		require.Equal(t, want, all[i].WorkItem, "List order at %d (least recently used first)", i)
	}
	all, _ = s.List(ctx, "")
	assert.Len(t, all, 4, "List(all)")
}

func TestJobsLifecycle(t *testing.T) {
	eachKind(t, testJobsLifecycle)
}

func testJobsLifecycle(t *testing.T, k kind) {
	ctx := context.Background()
	s := k.fresh(t).open(t)
	j := Job{ID: "j1", Runtime: "fake", Project: "p", WorkItem: "w", PID: 42, PIDStart: 1 << 40, Started: t0}
	require.NoError(t, s.AddJob(ctx, j))
	deadline := t0.Add(time.Minute)
	require.NoError(t, s.SetJobContainer(ctx, "j1", "c1", deadline))
	jobs, err := s.Jobs(ctx)
	j.ContainerID = "c1"
	require.NoError(t, err)
	require.Len(t, jobs, 1, "jobs: %+v", jobs)
	require.Equal(t, "c1", jobs[0].ContainerID, "container")
	require.Equal(t, j.PIDStart, jobs[0].PIDStart, "PID start")
	require.True(t, jobs[0].Started.Equal(t0), "started %v, want %v", jobs[0].Started, t0)
	require.True(t, jobs[0].Deadline.Equal(deadline), "deadline %v, want %v", jobs[0].Deadline, deadline)
	require.False(t, jobs[0].Ended, "a new job is ended")
	n := snap("p", "w", 1)
	// The container could not be removed: the row stays, ended.
	require.NoError(t, s.FinishJob(ctx, JobEnd{ID: "j1", Commit: &n, At: t0}))
	got, err := s.Jobs(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1, "jobs after FinishJob without removal: %+v", got)
	require.Equal(t, "j1", got[0].ID, "job kept after FinishJob without removal")
	require.True(t, got[0].Ended, "job kept after FinishJob without removal is not ended")
	require.NoError(t, s.DeleteJob(ctx, "j1"))
	got, err = s.Jobs(ctx)
	require.NoError(t, err)
	require.Empty(t, got, "jobs after DeleteJob")
	s.AddJob(ctx, Job{ID: "j3", Runtime: "fake"})
	require.NoError(t, s.FinishJob(ctx, JobEnd{ID: "j3", ContainerRemoved: true, At: t0}))
	jobs, _ = s.Jobs(ctx)
	require.Empty(t, jobs, "jobs left after FinishJob")
	e, _ := s.Lookup(ctx, n.Key)
	require.True(t, e.Found, "FinishJob did not store the snapshot")
	later := t0.Add(time.Hour)
	s.AddJob(ctx, Job{ID: "j2", Runtime: "fake"})
	require.NoError(t, s.FinishJob(ctx, JobEnd{ID: "j2", ContainerRemoved: true, Used: n.Key, At: later}))
	e, _ = s.Lookup(ctx, n.Key)
	assert.True(t, e.Snapshot.LastUsed.Equal(later), "last used %v, want %v", e.Snapshot.LastUsed, later)
}

func TestConcurrentWritersFromSeveralStores(t *testing.T) {
	eachKind(t, testConcurrentWritersFromSeveralStores)
}

func testConcurrentWritersFromSeveralStores(t *testing.T, k kind) {
	st := k.fresh(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		s := st.open(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				n := snap("p", string(rune('a'+w))+string(rune('a'+i)), 1)
				if !assert.NoError(t, s.Put(ctx, n)) {
					return
				}
			}
		}()
	}
	wg.Wait()
	n, _, err := st.open(t).Totals(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100, n, "rows")
}

// TestATransactionNeedsNoOtherConnection: a statement a transaction has not
// met before is prepared on the transaction's own connection. Waiting for
// another pooled connection there could wait, until busy_timeout, on
// connections that wait for the transaction's write lock (seen as
// SQLITE_BUSY under 200 jobs at once on a fresh daemon). Then it is cached.
func TestATransactionNeedsNoOtherConnection(t *testing.T) {
	s := open(t, t.TempDir())
	ctx := context.Background()
	const query = "SELECT count(*) FROM snapshots"
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Every other pooled connection is taken.
		for range 3 {
			c, err := s.db.Conn(ctx)
			require.NoError(t, err, "take a pooled connection")
			defer c.Close()
		}
		// Bounds the wait of a store that would wait for a connection.
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var n int
		return s.queryRow(cctx, tx, query).Scan(&n)
	})
	require.NoError(t, err, "a new statement in a transaction while the pool is taken")
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.NotNil(t, s.stmts[query], "the statement is cached once the transaction is over")
	assert.Empty(t, s.wanted, "nothing left to cache")
}
