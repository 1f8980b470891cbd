package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
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
	dir := t.TempDir()
	s := open(t, dir)
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version = %d, %v; want %d", v, err, schemaVersion)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	if _, err := s.db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), dir)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer schema: %v, want ErrNewerSchema", err)
	}
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
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			if ids[i], err = s.InstanceID(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("instance IDs differ: %q", ids)
		}
	}
	again, err := open(t, dir).InstanceID(ctx)
	if err != nil || again != ids[0] {
		t.Fatalf("after reopen: %q, %v; want %q", again, err, ids[0])
	}
	other, _ := open(t, t.TempDir()).InstanceID(ctx)
	if other == ids[0] {
		t.Fatal("two state directories share an instance ID")
	}
}

func TestPutLookupSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	want := snap("p", "w", 1)
	if err := s.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	s.Close()
	e, err := open(t, dir).Lookup(ctx, want.Key)
	if err != nil || !e.Found || e.LastGeneration != 1 {
		t.Fatalf("Lookup after reopen: %+v, %v", e, err)
	}
	got := e.Snapshot
	if !got.Created.Equal(want.Created) || !got.LastUsed.Equal(want.LastUsed) {
		t.Fatalf("times: got %v/%v want %v", got.Created, got.LastUsed, want.Created)
	}
	got.Created, got.LastUsed = want.Created, want.LastUsed
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestRemoveIsConditionalAndTombstones(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	n := snap("p", "w", 3)
	s.Put(ctx, n)
	if _, found, err := s.Remove(ctx, n.Key, "sha256:other"); err != nil || found {
		t.Fatalf("Remove with another image ID: found=%v err=%v; want no removal", found, err)
	}
	if _, found, err := s.Remove(ctx, n.Key, n.ImageID); err != nil || !found {
		t.Fatalf("Remove: found=%v err=%v", found, err)
	}
	e, _ := s.Lookup(ctx, n.Key)
	if e.Found || e.DroppedThrough != 3 || e.LastGeneration != 3 {
		t.Fatalf("after Remove: %+v", e)
	}
	// A dropped generation is never adopted again; a newer one is.
	if ok, err := s.Adopt(ctx, n); err != nil || ok {
		t.Fatalf("Adopt of a dropped generation: %v, %v", ok, err)
	}
	n4 := snap("p", "w", 4)
	if ok, err := s.Adopt(ctx, n4); err != nil || !ok {
		t.Fatalf("Adopt of a newer generation: %v, %v", ok, err)
	}
	// An older generation than the entry's is not adopted.
	if ok, _ := s.Adopt(ctx, snap("p", "w", 2)); ok {
		t.Fatal("adopted an older generation over a newer entry")
	}
}

func TestListOrderAndProjectFilter(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	for i, k := range []string{"c", "a", "b"} {
		n := snap("p", k, 1)
		n.LastUsed = t0.Add(time.Duration(i) * time.Minute)
		s.Put(ctx, n)
	}
	s.Put(ctx, snap("q", "z", 1))
	all, err := s.List(ctx, "p")
	if err != nil || len(all) != 3 {
		t.Fatalf("List(p): %d, %v", len(all), err)
	}
	for i, want := range []string{"c", "a", "b"} {
		if all[i].WorkItem != want {
			t.Fatalf("List order: %d is %q, want %q (least recently used first)", i, all[i].WorkItem, want)
		}
	}
	if all, _ := s.List(ctx, ""); len(all) != 4 {
		t.Fatalf("List(all) = %d entries, want 4", len(all))
	}
}

func TestJobsLifecycle(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	j := Job{ID: "j1", Runtime: "fake", Project: "p", WorkItem: "w", PID: 42, PIDStart: 1 << 40, Started: t0}
	if err := s.AddJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	deadline := t0.Add(time.Minute)
	if err := s.SetJobContainer(ctx, "j1", "c1", deadline); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.Jobs(ctx)
	j.ContainerID = "c1"
	if err != nil || len(jobs) != 1 || jobs[0].ContainerID != "c1" || jobs[0].PIDStart != j.PIDStart ||
		!jobs[0].Started.Equal(t0) || !jobs[0].Deadline.Equal(deadline) || jobs[0].Ended {
		t.Fatalf("Jobs: %+v, %v", jobs, err)
	}
	n := snap("p", "w", 1)
	// The container could not be removed: the row stays, ended.
	if err := s.FinishJob(ctx, JobEnd{ID: "j1", Commit: &n, At: t0}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Jobs(ctx); err != nil || len(got) != 1 || got[0].ID != "j1" || !got[0].Ended {
		t.Fatalf("jobs after FinishJob without removal: %+v, %v; want j1 kept, ended", got, err)
	}
	if err := s.DeleteJob(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Jobs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("jobs after DeleteJob: %+v, %v; want none", got, err)
	}
	s.AddJob(ctx, Job{ID: "j3", Runtime: "fake"})
	if err := s.FinishJob(ctx, JobEnd{ID: "j3", ContainerRemoved: true, At: t0}); err != nil {
		t.Fatal(err)
	}
	if jobs, _ := s.Jobs(ctx); len(jobs) != 0 {
		t.Fatalf("job left after FinishJob: %+v", jobs)
	}
	if e, _ := s.Lookup(ctx, n.Key); !e.Found {
		t.Fatal("FinishJob did not store the snapshot")
	}
	later := t0.Add(time.Hour)
	s.AddJob(ctx, Job{ID: "j2", Runtime: "fake"})
	if err := s.FinishJob(ctx, JobEnd{ID: "j2", ContainerRemoved: true, Used: n.Key, At: later}); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Lookup(ctx, n.Key); !e.Snapshot.LastUsed.Equal(later) {
		t.Fatalf("touch: last used %v, want %v", e.Snapshot.LastUsed, later)
	}
}

func TestConcurrentWritersFromSeveralStores(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		s := open(t, dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				n := snap("p", string(rune('a'+w))+string(rune('a'+i)), 1)
				if err := s.Put(ctx, n); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	db, err := sql.Open("sqlite", filepath.Join(dir, fileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM snapshots").Scan(&n); err != nil || n != 100 {
		t.Fatalf("rows = %d, %v; want 100", n, err)
	}
}
