package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postgresStore returns the URL of a schema of its own for t in the
// database BERTH_TEST_POSTGRES names, dropped at the end. Without it t
// skips, and in CI (CI=true) fails.
func postgresStore(t *testing.T) string {
	t.Helper()
	base := os.Getenv("BERTH_TEST_POSTGRES")
	if base == "" {
		msg := "BERTH_TEST_POSTGRES is not set: start a PostgreSQL with scripts/postgres.sh and set BERTH_TEST_POSTGRES=$(scripts/postgres.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cfg, err := pgx.ParseConfig(base)
	require.NoError(t, err, "BERTH_TEST_POSTGRES")
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { db.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "berth_core_" + hex.EncodeToString(b)
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "create schema")
	t.Cleanup(func() {
		// The cluster's schema, and its hosts' (schema_<instance ID>).
		db.Exec(`DO $$ DECLARE n name; BEGIN
			FOR n IN SELECT nspname FROM pg_namespace WHERE nspname = '` + schema + `' OR starts_with(nspname, '` + schema + `_') LOOP
				EXECUTE format('DROP SCHEMA %I CASCADE', n);
			END LOOP; END $$`)
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestStateInPostgres: a Core on PostgreSQL commits, reuses the snapshot,
// and finds it again after a restart; nothing is kept in berth.db.
func TestStateInPostgres(t *testing.T) {
	pg := postgresStore(t)
	e := newEnv(t, func(c *Config) { c.Store = pg })
	cold, _ := e.run(nil, job("w", "echo v1 > /work/f"))
	require.False(t, cold.Hit, "first run: a hit")
	require.True(t, cold.Commit.Committed, "first run not committed: %s", cold.Commit.Reason)
	warm, out := e.run(nil, job("w", "cat /work/f"))
	require.True(t, warm.Hit, "second run: a miss (%s)", warm.Reason)
	require.Equal(t, "v1\n", out)
	id := e.core.InstanceID()
	e.core.Close()
	c := e.open()
	assert.Equal(t, id, c.InstanceID(), "instance ID after a restart")
	again, _ := e.run(c, job("w", "cat /work/f"))
	assert.True(t, again.Hit, "after a restart: a miss (%s)", again.Reason)
	_, err := os.Stat(e.cfg.StateDir + "/" + stateDB)
	assert.ErrorIs(t, err, os.ErrNotExist, "a SQLite database beside PostgreSQL")
	snaps, err := c.Snapshots(context.Background(), "")
	require.NoError(t, err)
	assert.Len(t, snaps, 1, "snapshots")
}
