package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
)

// postgresEnv names the PostgreSQL the tests use: a URL of a database they
// may make schemas in (scripts/postgres.sh prints one).
const postgresEnv = "BERTH_TEST_POSTGRES"

// state is one fresh state: a state directory, and the database the store
// keeps it in.
type state struct {
	dir  string
	opts []Option
}

// open opens a store on st, closed when the test ends.
func (st state) open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), st.dir, st.opts...)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { s.Close() })
	return s
}

// kind is a kind of database a store runs on.
type kind struct {
	name string
	// fresh returns a new, empty state of this kind.
	fresh func(t testing.TB) state
}

var sqliteKind = kind{name: "sqlite", fresh: func(t testing.TB) state { return state{dir: t.TempDir()} }}

var postgresKind = kind{name: "postgres", fresh: freshPostgres}

// eachKind runs fn as a subtest on every kind of database: SQLite, and
// PostgreSQL when BERTH_TEST_POSTGRES names one (without it the subtest
// skips, and in CI, where CI=true, it fails).
func eachKind(t *testing.T, fn func(t *testing.T, k kind)) {
	for _, k := range []kind{sqliteKind, postgresKind} {
		t.Run(k.name, func(t *testing.T) {
			if k.name == "postgres" {
				needPostgres(t)
			}
			fn(t, k)
		})
	}
}

var (
	pgOnce sync.Once
	pgDB   *sql.DB // the database of BERTH_TEST_POSTGRES, to make schemas in
	pgURL  string
	pgErr  error
)

// needPostgres skips t (fails it in CI) when no PostgreSQL is at hand.
func needPostgres(t testing.TB) {
	t.Helper()
	pgOnce.Do(func() {
		pgURL = os.Getenv(postgresEnv)
		if pgURL == "" {
			return
		}
		cfg, err := pgx.ParseConfig(pgURL)
		if err != nil {
			pgErr = err
			return
		}
		pgDB = stdlib.OpenDB(*cfg)
		pgErr = pgDB.PingContext(context.Background())
	})
	if pgURL == "" {
		msg := postgresEnv + " is not set: start a PostgreSQL with scripts/postgres.sh and set " +
			postgresEnv + "=$(scripts/postgres.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Named but not reachable: an error, never a skip.
	require.NoError(t, pgErr, "PostgreSQL of %s", postgresEnv)
}

// freshPostgres makes a schema of its own for t in the test database and
// returns a state whose URL selects it (search_path), dropped at the end.
func freshPostgres(t testing.TB) state {
	t.Helper()
	needPostgres(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "berth_test_" + hex.EncodeToString(b)
	_, err := pgDB.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "create schema")
	t.Cleanup(func() { dropSchemas(pgDB, schema) })
	u, err := url.Parse(pgURL)
	require.NoError(t, err, "parse %s", postgresEnv)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return state{dir: t.TempDir(), opts: []Option{WithURL(u.String())}}
}

// schemaVersion returns the schema version s's database records.
func schemaVersion(t testing.TB, s *Store) int {
	t.Helper()
	q := "SELECT version FROM berth_schema"
	if _, ok := s.b.(sqliteBackend); ok {
		q = "PRAGMA user_version"
	}
	var v int
	require.NoError(t, s.db.QueryRow(q).Scan(&v), "schema version")
	return v
}

// setSchemaVersion makes s's database claim version v.
func setSchemaVersion(t testing.TB, s *Store, v int) {
	t.Helper()
	var err error
	if _, ok := s.b.(sqliteBackend); ok {
		_, err = s.db.Exec("PRAGMA user_version = " + strconv.Itoa(v))
	} else {
		_, err = s.db.Exec("UPDATE berth_schema SET version = $1", v)
	}
	require.NoError(t, err, "set schema version")
}

// knownVersion is the schema version this package writes in s's database.
func knownVersion(s *Store) int {
	if _, ok := s.b.(sqliteBackend); ok {
		return sqliteVersion
	}
	return postgresVersion
}

// dropSchemas drops the cluster schema cluster and its hosts' schemas
// (cluster_<instance ID>).
func dropSchemas(db *sql.DB, cluster string) {
	rows, err := db.Query("SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')", cluster)
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		db.Exec("DROP SCHEMA " + pgx.Identifier{n}.Sanitize() + " CASCADE")
	}
}
