package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key names a work item's snapshot.
type Key struct {
	Runtime  string
	Project  string
	WorkItem string
}

// Snapshot is a stored snapshot.
type Snapshot struct {
	Key
	Image       string // the reference, "berth/...:gN"
	ImageID     string
	BaseImage   string // the base image reference the job asked for
	BaseImageID string // the base image's ID at commit time; "" if unknown
	Size        int64
	Layers      int
	Generation  int
	Created     time.Time
	LastUsed    time.Time
	// SharedBase is the digest of the work item's shared snapshot
	// (Shared) this one is, or descends from through commits not shared
	// since; "" for none.
	SharedBase string
}

// Entry is what Lookup finds for a key.
type Entry struct {
	// Snapshot is valid when Found.
	Snapshot Snapshot
	Found    bool
	// LastGeneration is the highest generation ever stored for the key.
	LastGeneration int
	// DroppedThrough: generations up to it were removed on purpose.
	DroppedThrough int
}

const snapCols = `runtime, project, work_item, image, image_id, base_image, base_image_id,
	size, layers, generation, created, last_used, shared_base`

const keyIs = "runtime = ? AND project = ? AND work_item = ?"

// greatest is the SQL of the greater of a and b (SQLite's max(a, b) is
// PostgreSQL's greatest(a, b)).
func greatest(a, b string) string {
	return "CASE WHEN " + a + " > " + b + " THEN " + a + " ELSE " + b + " END"
}

func scanSnapshot(sc interface{ Scan(...any) error }) (Snapshot, error) {
	var s Snapshot
	var created, used int64
	err := sc.Scan(&s.Runtime, &s.Project, &s.WorkItem, &s.Image, &s.ImageID, &s.BaseImage,
		&s.BaseImageID, &s.Size, &s.Layers, &s.Generation, &created, &used, &s.SharedBase)
	s.Created, s.LastUsed = time.Unix(0, created), time.Unix(0, used)
	return s, err
}

func (s *Store) snapshots(ctx context.Context, where string, args ...any) ([]Snapshot, error) {
	rows, err := s.query(ctx, nil, "SELECT "+snapCols+" FROM snapshots "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list: %w", err)
		}
		out = append(out, snap)
	}
	return out, rows.Err()
}

// Lookup returns the snapshot of k, if any, and its generation counters.
func (s *Store) Lookup(ctx context.Context, k Key) (Entry, error) {
	var e Entry
	var rt, project, item, image, imageID, base, baseID, sharedBase sql.NullString
	var size, layers, gen, created, used sql.NullInt64
	err := s.queryRow(ctx, nil, `SELECT s.runtime, s.project, s.work_item, s.image, s.image_id, s.base_image,
		s.base_image_id, s.size, s.layers, s.generation, s.created, s.last_used, s.shared_base,
		coalesce(w.last_generation, 0), coalesce(w.dropped_through, 0)
		FROM (SELECT CAST(?1 AS TEXT) AS r, CAST(?2 AS TEXT) AS p, CAST(?3 AS TEXT) AS i) AS k
		LEFT JOIN snapshots s ON s.runtime = k.r AND s.project = k.p AND s.work_item = k.i
		LEFT JOIN work_items w ON w.runtime = k.r AND w.project = k.p AND w.work_item = k.i`,
		k.Runtime, k.Project, k.WorkItem).Scan(&rt, &project, &item, &image, &imageID, &base, &baseID,
		&size, &layers, &gen, &created, &used, &sharedBase, &e.LastGeneration, &e.DroppedThrough)
	if err != nil {
		return e, fmt.Errorf("store: lookup: %w", err)
	}
	if e.Found = rt.Valid; e.Found {
		e.Snapshot = Snapshot{Key: k, Image: image.String, ImageID: imageID.String, BaseImage: base.String,
			BaseImageID: baseID.String, Size: size.Int64, Layers: int(layers.Int64), Generation: int(gen.Int64),
			Created: time.Unix(0, created.Int64), LastUsed: time.Unix(0, used.Int64), SharedBase: sharedBase.String}
	}
	return e, nil
}

// List returns the snapshots of project ("" = every project), least
// recently used first.
func (s *Store) List(ctx context.Context, project string) ([]Snapshot, error) {
	order := " ORDER BY last_used, runtime, project, work_item"
	if project == "" {
		return s.snapshots(ctx, order)
	}
	return s.snapshots(ctx, "WHERE project = ?"+order, project)
}

// ListWorkItem returns the snapshots of (project, workItem) on every
// runtime.
func (s *Store) ListWorkItem(ctx context.Context, project, workItem string) ([]Snapshot, error) {
	return s.snapshots(ctx, "WHERE project = ? AND work_item = ? ORDER BY runtime", project, workItem)
}

// ImageIDs returns the image IDs of the snapshots on runtime rt.
func (s *Store) ImageIDs(ctx context.Context, rt string) (map[string]bool, error) {
	rows, err := s.query(ctx, nil, "SELECT image_id FROM snapshots WHERE runtime = ?", rt)
	if err != nil {
		return nil, fmt.Errorf("store: image IDs: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: image IDs: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// ByImageID returns the snapshots on runtime rt whose image is id.
func (s *Store) ByImageID(ctx context.Context, rt, id string) ([]Snapshot, error) {
	return s.snapshots(ctx, "WHERE runtime = ? AND image_id = ?", rt, id)
}

// CreatedBefore returns the snapshots of project made at or before cutoff.
func (s *Store) CreatedBefore(ctx context.Context, cutoff time.Time, project string) ([]Snapshot, error) {
	return s.createdBefore(ctx, cutoff, " IN ", []string{project})
}

// OthersCreatedBefore returns the snapshots made at or before cutoff of
// every project but those listed.
func (s *Store) OthersCreatedBefore(ctx context.Context, cutoff time.Time, except []string) ([]Snapshot, error) {
	return s.createdBefore(ctx, cutoff, " NOT IN ", except)
}

// createdBefore returns the snapshots made at or before cutoff whose
// project is (op " IN ") or is not (" NOT IN ") one of projects.
func (s *Store) createdBefore(ctx context.Context, cutoff time.Time, op string, projects []string) ([]Snapshot, error) {
	where := "WHERE created <= ?"
	args := []any{cutoff.UnixNano()}
	if len(projects) > 0 {
		where += " AND project" + op + "(?" + strings.Repeat(",?", len(projects)-1) + ")"
		for _, p := range projects {
			args = append(args, p)
		}
	}
	return s.snapshots(ctx, where+" ORDER BY last_used, runtime, project, work_item", args...)
}

// Totals returns the number of snapshots and their total size.
func (s *Store) Totals(ctx context.Context) (int, int64, error) {
	var n int
	var bytes int64
	if err := s.queryRow(ctx, nil, "SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM snapshots").Scan(&n, &bytes); err != nil {
		return 0, 0, fmt.Errorf("store: totals: %w", err)
	}
	return n, bytes, nil
}

// Oldest calls fn with the snapshots, least recently used first, until fn
// returns false or an error. fn may write to the store.
func (s *Store) Oldest(ctx context.Context, fn func(Snapshot) (bool, error)) error {
	rows, err := s.query(ctx, nil, "SELECT "+snapCols+" FROM snapshots ORDER BY last_used, runtime, project, work_item")
	if err != nil {
		return fmt.Errorf("store: oldest: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return fmt.Errorf("store: oldest: %w", err)
		}
		if more, err := fn(snap); err != nil || !more {
			return err
		}
	}
	return rows.Err()
}

func (s *Store) put(ctx context.Context, tx *sql.Tx, n Snapshot) error {
	err := s.exec(ctx, tx, `INSERT INTO snapshots (`+snapCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (runtime, project, work_item) DO UPDATE SET image = excluded.image,
		image_id = excluded.image_id, base_image = excluded.base_image, base_image_id = excluded.base_image_id,
		size = excluded.size, layers = excluded.layers, generation = excluded.generation,
		created = excluded.created, last_used = excluded.last_used, shared_base = excluded.shared_base`,
		n.Runtime, n.Project, n.WorkItem, n.Image, n.ImageID, n.BaseImage, n.BaseImageID,
		n.Size, n.Layers, n.Generation, n.Created.UnixNano(), n.LastUsed.UnixNano(), n.SharedBase)
	if err != nil {
		return err
	}
	return s.exec(ctx, tx, `INSERT INTO work_items (runtime, project, work_item, last_generation, dropped_through)
		VALUES (?,?,?,?,0) ON CONFLICT (runtime, project, work_item) DO UPDATE
		SET last_generation = `+greatest("work_items.last_generation", "excluded.last_generation"),
		n.Runtime, n.Project, n.WorkItem, n.Generation)
}

// Adopt stores n unless the key has a snapshot of the same or a newer
// generation, or n's generation was dropped on purpose. It reports whether
// n was stored.
func (s *Store) Adopt(ctx context.Context, n Snapshot) (bool, error) {
	var adopted bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		adopted = false
		var gen, dropped int
		err := s.queryRow(ctx, tx, `SELECT coalesce((SELECT generation FROM snapshots WHERE runtime = ?1 AND project = ?2 AND work_item = ?3), 0),
			coalesce((SELECT dropped_through FROM work_items WHERE runtime = ?1 AND project = ?2 AND work_item = ?3), 0)`,
			n.Runtime, n.Project, n.WorkItem).Scan(&gen, &dropped)
		if err != nil || n.Generation <= gen || n.Generation <= dropped {
			return err
		}
		adopted = true
		return s.put(ctx, tx, n)
	})
	if err != nil {
		return false, fmt.Errorf("store: adopt: %w", err)
	}
	return adopted, nil
}

// Remove deletes the snapshot of k when its image ID is imageID (any image
// if imageID is ""), and records its generation as dropped so that it is
// never adopted again. It returns the removed snapshot and whether there
// was one.
func (s *Store) Remove(ctx context.Context, k Key, imageID string) (Snapshot, bool, error) {
	var snap Snapshot
	var found bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		found = false
		var err error
		snap, err = scanSnapshot(s.queryRow(ctx, tx, "SELECT "+snapCols+" FROM snapshots WHERE "+keyIs,
			k.Runtime, k.Project, k.WorkItem))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && imageID != "" && snap.ImageID != imageID) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if err := s.exec(ctx, tx, "DELETE FROM snapshots WHERE "+keyIs, k.Runtime, k.Project, k.WorkItem); err != nil {
			return err
		}
		return s.exec(ctx, tx, `INSERT INTO work_items (runtime, project, work_item, last_generation, dropped_through)
			VALUES (?1,?2,?3,?4,?4) ON CONFLICT (runtime, project, work_item) DO UPDATE
			SET dropped_through = `+greatest("work_items.dropped_through", "excluded.dropped_through")+`,
			last_generation = `+greatest("work_items.last_generation", "excluded.last_generation"),
			k.Runtime, k.Project, k.WorkItem, snap.Generation)
	})
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("store: remove: %w", err)
	}
	return snap, found, nil
}

// Pulled stores n, a snapshot pulled from the registry, as its key's
// snapshot, whatever the key had (a generation dropped here before, or a
// newer one that does not descend from n: the caller, holding the work
// item's lock, decided n wins). It returns the snapshot it replaced, if
// any (whose image the caller removes).
func (s *Store) Pulled(ctx context.Context, n Snapshot) (old Snapshot, replaced bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		replaced = false
		var err error
		old, err = scanSnapshot(s.queryRow(ctx, tx, "SELECT "+snapCols+" FROM snapshots WHERE "+keyIs,
			n.Runtime, n.Project, n.WorkItem))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			replaced = true
		}
		return s.put(ctx, tx, n)
	})
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("store: record pulled snapshot: %w", err)
	}
	if !replaced {
		old = Snapshot{}
	}
	return old, replaced, nil
}
