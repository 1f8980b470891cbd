package core

import (
	"context"
	"os"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// postgresStore returns the URL of a schema of its own for t (see
// testenv.PostgresSchema).
func postgresStore(t *testing.T) string { return testenv.PostgresSchema(t, "berth_core_") }

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
