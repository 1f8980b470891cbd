package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddMetricsSums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.prom")
	require.NoError(t, addMetrics(path, map[string]float64{"jobs_total": 1, "snapshot_hits_total": 0}))
	require.NoError(t, addMetrics(path, map[string]float64{"jobs_total": 2, "commits_total": 1}))
	got, err := readCounters(path)
	require.NoError(t, err)
	want := map[string]float64{"berth_jobs_total": 3, "berth_snapshot_hits_total": 0, "berth_commits_total": 1}
	assert.Equal(t, want, got, "counters")
}

func TestAddMetricsRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.prom")
	require.NoError(t, os.WriteFile(path, []byte("this is { not prometheus\n"), 0o644))
	assert.Error(t, addMetrics(path, map[string]float64{"jobs_total": 1}), "addMetrics over a garbage file succeeded")
}

// TestMetricsWriteFailureIsAWarning: a metrics file that cannot be written
// makes berth warn, and the exit code stays the job's (or the command's).
func TestMetricsWriteFailureIsAWarning(t *testing.T) {
	f := newFake(t, "")
	metrics := filepath.Join(t.TempDir(), "no-such-dir", "berth.prom")
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "--image", "base:latest", "--", "true"}, 0},
		{[]string{"run", "--image", "base:latest", "--json", "--", "true"}, 0},
		{[]string{"run", "--image", "base:latest", "--", "sh", "-c", "exit 3"}, 3},
		{[]string{"run", "--image", "base:latest", "--timeout", "100ms", "--", "sleep", "10"}, exitTimeout},
		{[]string{"snapshots", "ls"}, 0},
	} {
		args := append([]string{"--metrics-file", metrics}, c.args...)
		code, _, stderr := f.berth(args...)
		assert.Equal(t, c.code, code, "%v: exit code; stderr: %s", c.args, stderr)
		assert.Contains(t, stderr, "berth: warning: --metrics-file", "%v: a warning about the metrics file on stderr", c.args)
	}
	_, err := os.Stat(filepath.Dir(metrics))
	require.ErrorIs(t, err, os.ErrNotExist, "stat %s", filepath.Dir(metrics))
}
