package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// fileName is the database's file name inside the state directory.
const fileName = "berth.db"

// ErrNewerSchema is returned by Open for a database written by a newer berth.
var ErrNewerSchema = errors.New("store: state database has a newer schema than this berth knows")

// migrations are applied in order; migration i brings the schema to version
// i+1. Never edit one that has shipped: append a new one.
var migrations = []string{
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
}

// schemaVersion is the schema version this package writes.
var schemaVersion = len(migrations)

// Store is the state database. It is safe for concurrent use, also by
// several processes sharing the directory.
type Store struct {
	db   *sql.DB
	path string

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt // prepared once: parsing costs more than running
	wanted map[string]bool      // met in a transaction, not cached yet
}

// Open opens (creating if needed) the state database in dir and migrates
// its schema.
func Open(ctx context.Context, dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: state directory is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
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
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, path: path, stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
	if err := s.openRetry(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	s.mu.Unlock()
	return s.db.Close()
}

// stmt returns query prepared, to run in tx when it is not nil.
//
// The cache's lock is never held while waiting for the database, and a
// transaction never waits for a second pooled connection: it holds the
// write lock, and the connections it would wait for may be waiting for that
// lock (until busy_timeout fails them with SQLITE_BUSY). So a statement
// missing from the cache is prepared outside the lock, and in a
// transaction on the transaction's own connection (closed with it); the
// transaction leaves it to be cached once it is over (see tx).
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st := s.stmts[query]
	if st == nil && tx != nil {
		s.wanted[query] = true
	}
	s.mu.Unlock()
	switch {
	case st != nil && tx != nil:
		return tx.StmtContext(ctx, st), nil
	case st != nil:
		return st, nil
	case tx != nil:
		return tx.PrepareContext(ctx, query)
	}
	return s.cache(ctx, query)
}

// cache prepares query on the database and caches it, unless another
// caller did meanwhile.
func (s *Store) cache(ctx context.Context, query string) (*sql.Stmt, error) {
	p, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stmts[query]; st != nil {
		p.Close()
		return st, nil
	}
	s.stmts[query] = p
	delete(s.wanted, query)
	return p, nil
}

// cacheWanted caches the statements transactions prepared for themselves.
// Errors are left to the next use of the statement.
func (s *Store) cacheWanted(ctx context.Context) {
	s.mu.Lock()
	queries := make([]string, 0, len(s.wanted))
	for q := range s.wanted {
		queries = append(queries, q)
	}
	s.mu.Unlock()
	for _, q := range queries {
		if _, err := s.cache(ctx, q); err != nil {
			s.mu.Lock()
			delete(s.wanted, q)
			s.mu.Unlock()
		}
	}
}

// exec runs a write statement, in tx when it is not nil.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// queryRow runs a query of one row, in tx when it is not nil.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		// Let Scan report it: run the query unprepared.
		if tx != nil {
			return tx.QueryRowContext(ctx, query, args...)
		}
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a query of many rows.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, nil, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// busyTimeout is how long a statement waits for another connection's lock.
const busyTimeout = 10 * time.Second

// openRetry migrates the schema. Several processes opening a new database
// at once may meet SQLITE_BUSY at once, without busy_timeout's wait (the
// first connection's switch to WAL mode); that is tried again for as long
// as busy_timeout would have waited.
func (s *Store) openRetry(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := s.migrate(ctx)
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

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: read schema version of %s: %w", s.path, err)
	}
	if v == schemaVersion {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Re-read inside the write lock: another process may have migrated.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		if v > schemaVersion {
			return fmt.Errorf("%w (%s: version %d, known %d)", ErrNewerSchema, s.path, v, schemaVersion)
		}
		for ; v < schemaVersion; v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("store: migrate %s to version %d: %w", s.path, v+1, err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// instanceFile is the file in the state directory that holds the instance
// ID beside the database, so that the identity outlives a database that was
// lost or replaced: the snapshots made before are still berth's to collect.
const instanceFile = "instance-id"

// InstanceID returns the ID of the state directory, creating it the first
// time. Every process sharing the directory gets the same ID. The ID lives
// in instanceFile, mirrored in the database; the file wins when they differ
// (a database made anew after the old one was lost).
func (s *Store) InstanceID(ctx context.Context) (string, error) {
	file := filepath.Join(filepath.Dir(s.path), instanceFile)
	if id, ok := readInstanceFile(file); ok {
		if err := s.setInstanceID(ctx, id); err != nil {
			return "", err
		}
		return id, nil
	}
	id, err := s.dbInstanceID(ctx)
	if err != nil {
		return "", err
	}
	if err := writeInstanceFile(file, id); err != nil {
		return "", fmt.Errorf("store: write %s: %w", file, err)
	}
	if got, ok := readInstanceFile(file); ok && got != id {
		// Another process wrote it first, from another database.
		return got, s.setInstanceID(ctx, got)
	}
	return id, nil
}

// validInstanceID reports whether id looks like an ID this package made.
func validInstanceID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func readInstanceFile(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	id := strings.TrimSpace(string(b))
	return id, validInstanceID(id)
}

// writeInstanceFile writes id to path unless a valid ID is there already,
// atomically: a reader never sees a half-written file.
func writeInstanceFile(path, id string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), instanceFile+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(id + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if _, ok := readInstanceFile(path); ok {
		return nil
	}
	// A file that is there but not valid (cut short by a crash) is
	// replaced; a valid one is never overwritten (Link does not replace).
	os.Remove(path)
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// setInstanceID makes the database's copy of the ID id.
func (s *Store) setInstanceID(ctx context.Context, id string) error {
	var have string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'instance_id'").Scan(&have)
	if err == nil && have == id {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: read instance ID: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('instance_id', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: record instance ID: %w", err)
	}
	return nil
}

// dbInstanceID returns the ID the database holds, creating it if none.
func (s *Store) dbInstanceID(ctx context.Context) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'instance_id'").Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: read instance ID: %w", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO meta (key, value) VALUES ('instance_id', ?)", hex.EncodeToString(b)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'instance_id'").Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("store: create instance ID: %w", err)
	}
	return id, nil
}

// tx runs fn in one IMMEDIATE transaction, committing if it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		s.cacheWanted(ctx)
		return err
	}
	err = tx.Commit()
	s.cacheWanted(ctx)
	return err
}
