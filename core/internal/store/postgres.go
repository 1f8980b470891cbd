package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// Version 2: the shared snapshot each snapshot is or descends from.
	`ALTER TABLE snapshots ADD COLUMN shared_base TEXT NOT NULL DEFAULT '';`,
}

// postgresVersion is the schema version this package writes in PostgreSQL.
var postgresVersion = len(postgresMigrations)

// clusterMigrations are the migrations of the cluster's schema, which every
// host sharing the database shares (see postgresBackend); versioned in its
// table berth_cluster_schema like postgresMigrations in berth_schema.
//
// Version 1: the snapshot each work item shares through a registry.
var clusterMigrations = []string{
	sharedSnapshotsTable(`TEXT COLLATE "C"`, "BIGINT"),
}

// clusterVersion is the cluster schema's version this package writes.
var clusterVersion = len(clusterMigrations)

// sharedSnapshotsTable is the table of shared snapshots, in a backend's
// types for keys and for times.
func sharedSnapshotsTable(key, bigint string) string {
	return `CREATE TABLE shared_snapshots (
		project       ` + key + ` NOT NULL,
		work_item     ` + key + ` NOT NULL,
		generation    INTEGER NOT NULL,
		repository    TEXT NOT NULL,
		digest        TEXT NOT NULL,
		base_image    TEXT NOT NULL,
		base_image_id TEXT NOT NULL,
		driver        TEXT NOT NULL,
		host          TEXT NOT NULL,
		size          ` + bigint + ` NOT NULL,
		layers        INTEGER NOT NULL,
		created       ` + bigint + ` NOT NULL,
		last_used     ` + bigint + ` NOT NULL,
		PRIMARY KEY (project, work_item)
	);
	CREATE INDEX shared_snapshots_created ON shared_snapshots (created);`
}

// migrateLock is the key of the transaction-level advisory lock under which
// a store migrates a PostgreSQL database: hosts starting at once migrate one
// after the other, and all but the first find nothing to do.
const migrateLock = 0x62657274686d6967 // "berthmig"

// postgresBackend keeps the state in a PostgreSQL database, which several
// hosts may share. Each host (a state directory) keeps what is its own (its
// jobs and their records, the images on its engines) in a schema of its own,
// named after the cluster's schema and the directory's instance ID, so that
// no host ever reads another's jobs as its own, or reaps them. What the hosts
// share is in the cluster's schema (the search_path of the URL, by default
// "berth"): the snapshots shared through a registry. Every connection's
// search_path is the host's schema, then the cluster's, so that each query is
// written once for both backends. The schemas' versions are the one row of
// berth_schema (the host's) and of berth_cluster_schema.
//
// Work items are locked across hosts with session advisory locks (see
// lock), each held on a connection of its own for as long as the job runs:
// a host that dies drops its connections, and PostgreSQL its locks.
type postgresBackend struct {
	name    string // the URL without its password
	cluster string // the cluster's schema
	host    string // this host's schema
	id      string // this host's instance ID (its state directory's)
	locks   *sql.DB
}

var _ backend = (*postgresBackend)(nil)

// defaultCluster is the cluster's schema when the URL sets no search_path.
const defaultCluster = "berth"

// maxIdentifier is PostgreSQL's limit on a name's length, in bytes.
const maxIdentifier = 63

// openPostgres opens the database rawURL names, through pgx, for the state
// directory dir.
func openPostgres(rawURL, dir string) (*sql.DB, backend, error) {
	name := "postgres"
	if u, err := url.Parse(rawURL); err == nil {
		name = u.Redacted()
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's message leaves the password out.
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	cluster := defaultCluster
	if sp := cfg.RuntimeParams["search_path"]; sp != "" {
		first, _, _ := strings.Cut(sp, ",")
		cluster = strings.Trim(strings.TrimSpace(first), `"`)
	}
	id, err := dirInstanceID(dir)
	if err != nil {
		return nil, nil, err
	}
	host := cluster + "_" + id
	if cluster == "" || len(host) > maxIdentifier {
		return nil, nil, fmt.Errorf("store: %s: the schema of search_path, %q, must be 1 to %d bytes", name, cluster, maxIdentifier-1-len(id))
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{host}.Sanitize() + ", " + pgx.Identifier{cluster}.Sanitize()
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	// The locks' connections: one per lock held, as many as jobs run.
	locks := stdlib.OpenDB(*cfg)
	locks.SetMaxIdleConns(4)
	return db, &postgresBackend{name: name, cluster: cluster, host: host, id: id, locks: locks}, nil
}

// dirInstanceID returns the instance ID of the state directory dir,
// creating the directory and its ID the first time.
func dirInstanceID(dir string) (string, error) {
	file := filepath.Join(dir, instanceFile)
	if id, ok := readInstanceFile(file); ok {
		return id, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	id, err := newInstanceID()
	if err != nil {
		return "", err
	}
	if err := writeInstanceFile(file, id); err != nil {
		return "", fmt.Errorf("store: write %s: %w", file, err)
	}
	id, ok := readInstanceFile(file)
	if !ok {
		return "", fmt.Errorf("store: %s: no valid instance ID after writing it", file)
	}
	return id, nil
}

func (b *postgresBackend) String() string { return b.name }

// rebind turns ?N into $N and each bare ? into the next $N.
func (*postgresBackend) rebind(query string) string {
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
func (*postgresBackend) txOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelSerializable}
}

// retry: a serialization failure or a deadlock.
func (*postgresBackend) retry(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (*postgresBackend) prepares() bool { return false }

func (b *postgresBackend) migrate(ctx context.Context, s *Store) error {
	var v, cv int
	err := s.db.QueryRowContext(ctx, "SELECT (SELECT version FROM berth_schema), (SELECT version FROM berth_cluster_schema)").Scan(&v, &cv)
	if err == nil && v == postgresVersion && cv == clusterVersion {
		return nil
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
	// The cluster's schema first, then the host's: each migrated with its
	// schema alone on the search_path, its statements written unqualified.
	for _, m := range []struct {
		schema, table string
		migrations    []string
	}{
		{b.cluster, "berth_cluster_schema", clusterMigrations},
		{b.host, "berth_schema", postgresMigrations},
	} {
		schema := pgx.Identifier{m.schema}.Sanitize()
		if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema+"; SET LOCAL search_path = "+schema); err != nil {
			return fmt.Errorf("store: migrate %s: schema %s: %w", b, m.schema, err)
		}
		if err := migrateSchema(ctx, tx, b.String()+" (schema "+m.schema+")", m.table, m.migrations); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate %s: %w", b, err)
	}
	return nil
}

// migrateSchema brings the tables of the schema on tx's search_path to the
// newest of migrations, recording the version in table.
func migrateSchema(ctx context.Context, tx *sql.Tx, name, table string, migrations []string) error {
	if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+" (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("store: migrate %s: %w", name, err)
	}
	var v int
	err := tx.QueryRowContext(ctx, "SELECT version FROM "+table).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: read schema version of %s: %w", name, err)
	}
	fresh := errors.Is(err, sql.ErrNoRows)
	known := len(migrations)
	if v > known {
		return fmt.Errorf("%w (%s: version %d, known %d)", ErrNewerSchema, name, v, known)
	}
	if v == known && !fresh {
		return nil
	}
	for ; v < known; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("store: migrate %s to version %d: %w", name, v+1, err)
		}
	}
	q := "UPDATE " + table + " SET version = $1"
	if fresh {
		q = "INSERT INTO " + table + " (version) VALUES ($1)"
	}
	if _, err := tx.ExecContext(ctx, q, known); err != nil {
		return fmt.Errorf("store: migrate %s: %w", name, err)
	}
	return nil
}

// instanceID: the state directory's (it names the host's schema), mirrored
// in the host's meta table.
func (b *postgresBackend) instanceID(ctx context.Context, s *Store) (string, error) {
	if err := s.setInstanceID(ctx, b.id); err != nil {
		return "", err
	}
	return b.id, nil
}

func (b *postgresBackend) close() error { return b.locks.Close() }

// lock takes the session advisory lock key on a connection of its own,
// held until unlock: PostgreSQL drops it with the connection, so a host
// that dies lets go of its work items. try gives up at once when another
// session holds it.
func (b *postgresBackend) lock(ctx context.Context, parts []string, try bool) (unlock func(), ok bool, err error) {
	key := b.lockKey(parts)
	conn, err := b.locks.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: lock: %w", err)
	}
	if try {
		err = conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok)
	} else {
		_, err = conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key)
		ok = err == nil
	}
	if err == nil && ok && ctx.Err() != nil {
		err = ctx.Err() // taken as ctx ended: let go at once
	}
	if err != nil {
		// Whether or not the lock was granted meanwhile, the session ends
		// with the connection, and the lock with it.
		discard(conn)
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, fmt.Errorf("store: lock: %w", err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var released bool
			if err := conn.QueryRowContext(uctx, "SELECT pg_advisory_unlock($1)", key).Scan(&released); err != nil || !released {
				discard(conn) // the session, and every lock it might hold, ends
				return
			}
			conn.Close()
		})
	}, true, nil
}

// discard closes conn for good: the pool never hands it out again.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// lockKey is the advisory lock key of parts in the cluster: its schema's
// name and the parts, length-prefixed and hashed, so that two clusters in
// one database never share a lock.
func (b *postgresBackend) lockKey(parts []string) int64 {
	h := sha256.New()
	for _, p := range append([]string{b.cluster}, parts...) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}
