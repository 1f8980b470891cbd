package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// fileName is the database's file name inside the state directory.
const fileName = "berth.db"

// sqliteMigrations are applied in order; migration i brings the schema to version
// i+1. Never edit one that has shipped: append a new one.
var sqliteMigrations = []string{
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE snapshots (
		runtime       TEXT NOT NULL,
		project       TEXT NOT NULL,
		work_item     TEXT NOT NULL,
		image         TEXT NOT NULL,
		image_id      TEXT NOT NULL,
		base_image    TEXT NOT NULL,
		base_image_id TEXT NOT NULL,
		size          INTEGER NOT NULL,
		layers        INTEGER NOT NULL,
		generation    INTEGER NOT NULL,
		created       INTEGER NOT NULL,
		last_used     INTEGER NOT NULL,
		PRIMARY KEY (runtime, project, work_item)
	);
	CREATE INDEX snapshots_lru ON snapshots (last_used, runtime, project, work_item);
	CREATE INDEX snapshots_created ON snapshots (created);
	CREATE INDEX snapshots_image ON snapshots (runtime, image_id);
	CREATE TABLE work_items (
		runtime         TEXT NOT NULL,
		project         TEXT NOT NULL,
		work_item       TEXT NOT NULL,
		last_generation INTEGER NOT NULL,
		dropped_through INTEGER NOT NULL,
		PRIMARY KEY (runtime, project, work_item)
	);
	CREATE TABLE jobs (
		id           TEXT PRIMARY KEY,
		runtime      TEXT NOT NULL,
		project      TEXT NOT NULL,
		work_item    TEXT NOT NULL,
		container_id TEXT NOT NULL,
		pid          INTEGER NOT NULL,
		pid_start    INTEGER NOT NULL,
		started      INTEGER NOT NULL
	);`,
	// Version 2: a job's owner proves it is alive by a lock on a file of
	// its own (owner_lock 1), which crosses PID namespaces; the job's
	// deadline survives its owner; a job whose end is recorded keeps its
	// row until its container is removed (ended 1).
	`ALTER TABLE jobs ADD COLUMN owner_lock INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN deadline INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN ended INTEGER NOT NULL DEFAULT 0;`,
	// Version 3: submitted jobs (berth serve) are durable: a restarted
	// owner takes over their containers (durable 1), and their records
	// outlive them.
	`ALTER TABLE jobs ADD COLUMN durable INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE job_records (
		id              TEXT PRIMARY KEY,
		idempotency_key TEXT,
		state           TEXT NOT NULL,
		project         TEXT NOT NULL,
		work_item       TEXT NOT NULL,
		created         INTEGER NOT NULL,
		ended           INTEGER NOT NULL,
		record          BLOB NOT NULL,
		resume          BLOB
	);
	CREATE UNIQUE INDEX job_records_key ON job_records (idempotency_key);
	CREATE INDEX job_records_created ON job_records (created, id);
	CREATE INDEX job_records_state ON job_records (state);`,
	// Version 4: the pruning of the oldest ended records walks an index
	// instead of sorting the whole history at every job's end.
	`CREATE INDEX job_records_ended ON job_records (ended, id);`,
	// Version 5: the snapshot each work item shares through a registry
	// (in PostgreSQL, in the cluster's schema: see clusterMigrations).
	sharedSnapshotsTable("TEXT", "INTEGER"),
	// Version 6: the shared snapshot each snapshot is or descends from.
	`ALTER TABLE snapshots ADD COLUMN shared_base TEXT NOT NULL DEFAULT '';`,
}

// sqliteVersion is the schema version this package writes in SQLite.
var sqliteVersion = len(sqliteMigrations)

// sqliteBackend keeps the state in a SQLite database inside the state
// directory, versioned with PRAGMA user_version.
type sqliteBackend struct {
	path string
}

var _ backend = sqliteBackend{}

// openSQLite opens the database of the state directory dir.
func openSQLite(dir string) (*sql.DB, backend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, fileName)
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	// The path is escaped as a URI path: '?', '#' or '%' in a directory's
	// name must not end the file name or start the parameters.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	return db, sqliteBackend{path: path}, nil
}

func (b sqliteBackend) String() string { return b.path }

// rebind: SQLite speaks ? and ?N itself.
func (sqliteBackend) rebind(query string) string { return query }

// txOptions: every transaction is IMMEDIATE (the _txlock of the DSN): it
// takes the write lock at its start, so transactions never conflict.
func (sqliteBackend) txOptions() *sql.TxOptions { return nil }

// retry: a transaction waits busy_timeout for the write lock, then fails.
func (sqliteBackend) retry(error) bool { return false }

func (sqliteBackend) prepares() bool { return true }

// lock: no other host shares a SQLite state.
func (sqliteBackend) lock(context.Context, []string, bool) (func(), bool, error) {
	return func() {}, true, nil
}

func (sqliteBackend) close() error { return nil }

// busyTimeout is how long a statement waits for another connection's lock.
const busyTimeout = 10 * time.Second

// migrate migrates the schema. Several processes opening a new database
// at once may meet SQLITE_BUSY at once, without busy_timeout's wait (the
// first connection's switch to WAL mode); that is tried again for as long
// as busy_timeout would have waited.
func (b sqliteBackend) migrate(ctx context.Context, s *Store) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := b.migrate1(ctx, s)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (b sqliteBackend) migrate1(ctx context.Context, s *Store) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: read schema version of %s: %w", b.path, err)
	}
	if v == sqliteVersion {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Re-read inside the write lock: another process may have migrated.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		if v > sqliteVersion {
			return fmt.Errorf("%w (%s: version %d, known %d)", ErrNewerSchema, b.path, v, sqliteVersion)
		}
		for ; v < sqliteVersion; v++ {
			if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
				return fmt.Errorf("store: migrate %s to version %d: %w", b.path, v+1, err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", sqliteVersion))
		return err
	})
}
