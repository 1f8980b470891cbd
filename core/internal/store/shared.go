package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Shared is the snapshot of a work item that hosts share through a
// registry: the newest generation any host pushed. It is the cluster's
// (PostgreSQL: the cluster's schema), not a host's: its image is in the
// registry, and a host that runs the work item pulls it by digest.
type Shared struct {
	Project    string
	WorkItem   string
	Generation int
	// Repository is the registry's repository ("host:port/path") and
	// Digest the manifest's ("sha256:..."): Ref names the image.
	Repository string
	Digest     string
	// BaseImage is the base image the job asked for, BaseImageID its ID
	// on the engine that committed the snapshot, whose driver is Driver
	// (IDs compare only between engines of one kind).
	BaseImage   string
	BaseImageID string
	Driver      string
	// Host is the instance ID of the host that pushed it.
	Host     string
	Size     int64
	Layers   int
	Created  time.Time
	LastUsed time.Time
}

// Ref is the reference by digest of s's image in its registry.
func (s Shared) Ref() string { return s.Repository + "@" + s.Digest }

// Dropped reports whether s is the mark of a shared snapshot dropped on
// purpose (InvalidateShared): no image, and every host's own snapshot of
// the work item up to s.Generation is void.
func (s Shared) Dropped() bool { return s.Digest == "" }

const sharedCols = `project, work_item, generation, repository, digest, base_image, base_image_id,
	driver, host, size, layers, created, last_used`

func scanShared(sc interface{ Scan(...any) error }) (Shared, error) {
	var s Shared
	var created, used int64
	err := sc.Scan(&s.Project, &s.WorkItem, &s.Generation, &s.Repository, &s.Digest, &s.BaseImage,
		&s.BaseImageID, &s.Driver, &s.Host, &s.Size, &s.Layers, &created, &used)
	s.Created, s.LastUsed = time.Unix(0, created), time.Unix(0, used)
	return s, err
}

// sharedRow reads the shared snapshot of (project, workItem), in tx when it
// is not nil; sql.ErrNoRows when there is none.
func (s *Store) sharedRow(ctx context.Context, tx *sql.Tx, project, workItem string) (Shared, error) {
	return scanShared(s.queryRow(ctx, tx, "SELECT "+sharedCols+" FROM shared_snapshots WHERE project = ? AND work_item = ?",
		project, workItem))
}

// LookupShared returns the shared snapshot of (project, workItem), and
// whether there is one.
func (s *Store) LookupShared(ctx context.Context, project, workItem string) (Shared, bool, error) {
	sh, err := s.sharedRow(ctx, nil, project, workItem)
	if errors.Is(err, sql.ErrNoRows) {
		return Shared{}, false, nil
	}
	if err != nil {
		return Shared{}, false, fmt.Errorf("store: lookup shared snapshot: %w", err)
	}
	return sh, true, nil
}

// PutShared records n as its work item's shared snapshot unless one of the
// same or a newer generation is recorded. It reports whether n was
// recorded, and the snapshot n replaced (whose image the caller deletes
// from the registry), if any.
func (s *Store) PutShared(ctx context.Context, n Shared) (stored bool, old Shared, replaced bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		stored, replaced = false, false
		var err error
		old, err = s.sharedRow(ctx, tx, n.Project, n.WorkItem)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case old.Generation >= n.Generation:
			return nil
		default:
			replaced = true
		}
		stored = true
		return s.exec(ctx, tx, `INSERT INTO shared_snapshots (`+sharedCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (project, work_item) DO UPDATE SET generation = excluded.generation,
			repository = excluded.repository, digest = excluded.digest, base_image = excluded.base_image,
			base_image_id = excluded.base_image_id, driver = excluded.driver, host = excluded.host,
			size = excluded.size, layers = excluded.layers, created = excluded.created, last_used = excluded.last_used`,
			n.Project, n.WorkItem, n.Generation, n.Repository, n.Digest, n.BaseImage, n.BaseImageID,
			n.Driver, n.Host, n.Size, n.Layers, n.Created.UnixNano(), n.LastUsed.UnixNano())
	})
	if err != nil {
		return false, Shared{}, false, fmt.Errorf("store: record shared snapshot: %w", err)
	}
	if !replaced {
		old = Shared{}
	}
	return stored, old, replaced, nil
}

// TouchShared notes the shared snapshot of (project, workItem) whose
// digest is digest as used at at.
func (s *Store) TouchShared(ctx context.Context, project, workItem, digest string, at time.Time) error {
	err := s.exec(ctx, nil, "UPDATE shared_snapshots SET last_used = ? WHERE project = ? AND work_item = ? AND digest = ? AND last_used < ?",
		at.UnixNano(), project, workItem, digest, at.UnixNano())
	if err != nil {
		return fmt.Errorf("store: note shared snapshot used: %w", err)
	}
	return nil
}

// RemoveShared forgets the shared snapshot of (project, workItem) when its
// digest is digest (any, if digest is ""), and returns it and whether there
// was one.
func (s *Store) RemoveShared(ctx context.Context, project, workItem, digest string) (Shared, bool, error) {
	sh, found, err := s.changeShared(ctx, project, workItem, func(sh Shared) bool { return digest == "" || sh.Digest == digest },
		"DELETE FROM shared_snapshots WHERE project = ? AND work_item = ?")
	if err != nil {
		return Shared{}, false, fmt.Errorf("store: remove shared snapshot: %w", err)
	}
	return sh, found, nil
}

// changeShared runs write (a statement on project, workItem) in one
// transaction with the read of the shared snapshot of (project, workItem),
// when there is one and match accepts it. It returns the snapshot as it was
// and whether write ran.
func (s *Store) changeShared(ctx context.Context, project, workItem string, match func(Shared) bool, write string) (Shared, bool, error) {
	var sh Shared
	var found bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		found = false
		var err error
		sh, err = s.sharedRow(ctx, tx, project, workItem)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !match(sh)) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return s.exec(ctx, tx, write, project, workItem)
	})
	return sh, found, err
}

// ListShared returns every shared snapshot, oldest first.
func (s *Store) ListShared(ctx context.Context) ([]Shared, error) {
	rows, err := s.query(ctx, nil, "SELECT "+sharedCols+" FROM shared_snapshots ORDER BY created, project, work_item")
	if err != nil {
		return nil, fmt.Errorf("store: list shared snapshots: %w", err)
	}
	defer rows.Close()
	var out []Shared
	for rows.Next() {
		sh, err := scanShared(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list shared snapshots: %w", err)
		}
		out = append(out, sh)
	}
	return out, rows.Err()
}

// InvalidateShared replaces the shared snapshot of (project, workItem), if
// there is one, by the mark that it was dropped (Shared.Dropped) at its
// generation, so that every host drops its own copy too. It returns the
// snapshot it replaced and whether there was one (a mark already is none).
func (s *Store) InvalidateShared(ctx context.Context, project, workItem string) (Shared, bool, error) {
	sh, found, err := s.changeShared(ctx, project, workItem, func(sh Shared) bool { return !sh.Dropped() },
		"UPDATE shared_snapshots SET digest = '', repository = '' WHERE project = ? AND work_item = ?")
	if err != nil {
		return Shared{}, false, fmt.Errorf("store: invalidate shared snapshot: %w", err)
	}
	return sh, found, nil
}
