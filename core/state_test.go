package core

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRestartReusesSnapshots(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo kept > /work/f"))
	id := e.core.InstanceID()
	require.NoError(t, e.core.Close())
	c := e.open()
	require.Equal(t, id, c.InstanceID(), "instance ID after a restart")
	res, out := e.run(c, job("w", "cat /work/f"))
	require.True(t, res.Hit, "after restart: a miss (%s)", res.Reason)
	require.Equal(t, first.Commit.Image, res.Image, "image after restart")
	require.Equal(t, "kept\n", out, "output after restart")
	require.Equal(t, 2, res.Commit.Generation, "generation after restart")
	snaps, err := c.Snapshots(context.Background(), "")
	require.NoError(t, err)
	require.Len(t, snaps, 1, "snapshots: %+v", snaps)
	require.Equal(t, res.Commit.Image, snaps[0].Image, "snapshot's image")
	require.Equal(t, 2, snaps[0].Generation, "snapshot's generation")
	snaps, err = c.Snapshots(context.Background(), "other")
	require.NoError(t, err)
	assert.Empty(t, snaps, "snapshots of project other")
}

func TestTwoCoresShareOneStateDir(t *testing.T) {
	e := newEnv(t, nil)
	other := e.open()
	require.Equal(t, e.core.InstanceID(), other.InstanceID(), "instance IDs of two Cores on one state dir")
	e.run(nil, job("w", "echo a > /work/f"))
	res, out := e.run(other, job("w", "cat /work/f"))
	require.True(t, res.Hit, "the other Core did not reuse the snapshot (%s)", res.Reason)
	require.Equal(t, "a\n", out, "output on the other Core")
	res, _ = e.run(nil, job("w", "true"))
	require.True(t, res.Hit, "back on the first Core: a miss (%s)", res.Reason)
	assert.Equal(t, 3, res.Commit.Generation, "generation back on the first Core")
}

func TestCloseRefusesNewWork(t *testing.T) {
	e := newEnv(t, nil)
	e.core.Close()
	_, err := e.core.Run(context.Background(), job("w", "true"))
	require.ErrorIs(t, err, ErrClosed, "Run after Close")
	_, err = e.core.Sweep(context.Background(), SweepOptions{})
	require.ErrorIs(t, err, ErrClosed, "Sweep after Close")
	require.NoError(t, e.core.Close(), "second Close")
}
