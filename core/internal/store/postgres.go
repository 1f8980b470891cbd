package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresMigrations are applied in order; migration i brings the schema to
// version i+1. Never edit one that has shipped: append a new one (and its
// SQLite twin to sqliteMigrations).
//
// Version 1 is SQLite's version 4 in PostgreSQL's types: times are
// nanoseconds since the epoch in BIGINT, as in SQLite, so both keep them
// exactly; text sorts by bytes (COLLATE "C") as SQLite's does, whatever
// the database's locale.
var postgresMigrations = []string{
	`CREATE TABLE meta (
		key   TEXT COLLATE "C" PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE snapshots (
		runtime       TEXT COLLATE "C" NOT NULL,
		project       TEXT COLLATE "C" NOT NULL,
		work_item     TEXT COLLATE "C" NOT NULL,
		image         TEXT NOT NULL,
		image_id      TEXT COLLATE "C" NOT NULL,
		base_image    TEXT NOT NULL,
		base_image_id TEXT NOT NULL,
		size          BIGINT NOT NULL,
		layers        INTEGER NOT NULL,
		generation    INTEGER NOT NULL,
		created       BIGINT NOT NULL,
		last_used     BIGINT NOT NULL,
		PRIMARY KEY (runtime, project, work_item)
	);
	CREATE INDEX snapshots_lru ON snapshots (last_used, runtime, project, work_item);
	CREATE INDEX snapshots_created ON snapshots (created);
	CREATE INDEX snapshots_image ON snapshots (runtime, image_id);
	CREATE TABLE work_items (
		runtime         TEXT COLLATE "C" NOT NULL,
		project         TEXT COLLATE "C" NOT NULL,
		work_item       TEXT COLLATE "C" NOT NULL,
		last_generation INTEGER NOT NULL,
		dropped_through INTEGER NOT NULL,
		PRIMARY KEY (runtime, project, work_item)
	);
	CREATE TABLE jobs (
		id           TEXT COLLATE "C" PRIMARY KEY,
		runtime      TEXT NOT NULL,
		project      TEXT NOT NULL,
		work_item    TEXT NOT NULL,
		container_id TEXT NOT NULL,
		pid          INTEGER NOT NULL,
		pid_start    BIGINT NOT NULL,
		started      BIGINT NOT NULL,
		owner_lock   BOOLEAN NOT NULL DEFAULT FALSE,
		deadline     BIGINT NOT NULL DEFAULT 0,
		ended        BOOLEAN NOT NULL DEFAULT FALSE,
		durable      BOOLEAN NOT NULL DEFAULT FALSE
	);
	CREATE TABLE job_records (
		id              TEXT COLLATE "C" PRIMARY KEY,
		idempotency_key TEXT COLLATE "C",
		state           TEXT COLLATE "C" NOT NULL,
		project         TEXT COLLATE "C" NOT NULL,
		work_item       TEXT COLLATE "C" NOT NULL,
		created         BIGINT NOT NULL,
		ended           BIGINT NOT NULL,
		record          BYTEA NOT NULL,
		resume          BYTEA
	);
	CREATE UNIQUE INDEX job_records_key ON job_records (idempotency_key);
	CREATE INDEX job_records_created ON job_records (created, id);
	CREATE INDEX job_records_state ON job_records (state);
	CREATE INDEX job_records_ended ON job_records (ended, id);`,
}

// postgresVersion is the schema version this package writes in PostgreSQL.
var postgresVersion = len(postgresMigrations)

// migrateLock is the key of the transaction-level advisory lock under which
// a store migrates a PostgreSQL database: hosts starting at once migrate one
// after the other, and all but the first find nothing to do.
const migrateLock = 0x62657274686d6967 // "berthmig"

// postgresBackend keeps the state in a PostgreSQL database, which several
// hosts may share. The schema's version is the one row of berth_schema.
type postgresBackend struct {
	name string // the URL without its password
}

var _ backend = postgresBackend{}

// openPostgres opens the database rawURL names, through pgx.
func openPostgres(rawURL string) (*sql.DB, backend, error) {
	name := "postgres"
	if u, err := url.Parse(rawURL); err == nil {
		name = u.Redacted()
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's message leaves the password out.
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	return db, postgresBackend{name: name}, nil
}

func (b postgresBackend) String() string { return b.name }

// rebind turns ?N into $N and each bare ? into the next $N.
func (postgresBackend) rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var out strings.Builder
	out.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c != '?' {
			out.WriteByte(c)
			continue
		}
		out.WriteByte('$')
		if i+1 < len(query) && query[i+1] >= '0' && query[i+1] <= '9' {
			continue // ?N: its digits follow as they are
		}
		n++
		out.WriteString(strconv.Itoa(n))
	}
	return out.String()
}

// txOptions: SERIALIZABLE, so a transaction sees and writes the state as if
// it ran alone, as SQLite's IMMEDIATE transactions do; one that loses a
// conflict fails, and is run again (retry).
func (postgresBackend) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelSerializable}
}

// retry: a serialization failure or a deadlock.
func (postgresBackend) retry(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (postgresBackend) prepares() bool { return false }

func (b postgresBackend) migrate(ctx context.Context, s *Store) error {
	var v int
	err := s.db.QueryRowContext(ctx, "SELECT version FROM berth_schema").Scan(&v)
	if err == nil && v == postgresVersion {
		return nil
	}
	var pe *pgconn.PgError
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !(errors.As(err, &pe) && pe.Code == "42P01") { // undefined_table
		return fmt.Errorf("store: read schema version of %s: %w", b, err)
	}
	// DDL is transactional in PostgreSQL: a migration is all done or not
	// at all.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", b, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLock)); err != nil {
		return fmt.Errorf("store: migrate %s: %w", b, err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS berth_schema (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("store: migrate %s: %w", b, err)
	}
	// Re-read under the lock: another host may have migrated.
	v = 0
	err = tx.QueryRowContext(ctx, "SELECT version FROM berth_schema").Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: read schema version of %s: %w", b, err)
	}
	fresh := errors.Is(err, sql.ErrNoRows)
	if v > postgresVersion {
		return fmt.Errorf("%w (%s: version %d, known %d)", ErrNewerSchema, b, v, postgresVersion)
	}
	if v == postgresVersion {
		return nil
	}
	for ; v < postgresVersion; v++ {
		if _, err := tx.ExecContext(ctx, postgresMigrations[v]); err != nil {
			return fmt.Errorf("store: migrate %s to version %d: %w", b, v+1, err)
		}
	}
	q := "UPDATE berth_schema SET version = $1"
	if fresh {
		q = "INSERT INTO berth_schema (version) VALUES ($1)"
	}
	if _, err := tx.ExecContext(ctx, q, postgresVersion); err != nil {
		return fmt.Errorf("store: migrate %s: %w", b, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate %s: %w", b, err)
	}
	return nil
}

// instanceID: the database's ID, seeded by the state directory's.
func (postgresBackend) instanceID(ctx context.Context, s *Store) (string, error) {
	seed, _ := readInstanceFile(filepath.Join(s.dir, instanceFile))
	return s.dbInstanceID(ctx, seed)
}
