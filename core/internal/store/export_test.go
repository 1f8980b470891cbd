package store

import (
	"context"
	"database/sql"
)

// Put stores n, replacing the key's previous snapshot. Only tests store a
// snapshot outside a job's end (FinishJob) or an adoption (Adopt).
func (s *Store) Put(ctx context.Context, n Snapshot) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.put(ctx, tx, n) })
}
