package store

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
)

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
	pgDB   *sql.DB // the database of BERTH_TEST_POSTGRES
	pgErr  error
)

// needPostgres skips t (fails it in CI) when no PostgreSQL is at hand, and
// opens pgDB on it once.
func needPostgres(t testing.TB) {
	t.Helper()
	url := testenv.Postgres(t)
	pgOnce.Do(func() {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			pgErr = err
			return
		}
		pgDB = stdlib.OpenDB(*cfg)
		pgErr = pgDB.PingContext(context.Background())
	})
	// Named but not reachable: an error, never a skip.
	require.NoError(t, pgErr, "PostgreSQL of %s", testenv.PostgresEnv)
}

// freshPostgres returns a state on a schema of its own for t (see
// testenv.PostgresSchema).
func freshPostgres(t testing.TB) state {
	t.Helper()
	needPostgres(t)
	return state{dir: t.TempDir(), opts: []Option{WithURL(testenv.PostgresSchema(t, "berth_test_"))}}
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
