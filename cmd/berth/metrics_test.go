package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAddMetricsSums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.prom")
	if err := addMetrics(path, map[string]float64{"jobs_total": 1, "snapshot_hits_total": 0}); err != nil {
		t.Fatal(err)
	}
	if err := addMetrics(path, map[string]float64{"jobs_total": 2, "commits_total": 1}); err != nil {
		t.Fatal(err)
	}
	got, err := readCounters(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"berth_jobs_total": 3, "berth_snapshot_hits_total": 0, "berth_commits_total": 1}
	if len(got) != len(want) {
		t.Errorf("counters = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestAddMetricsRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.prom")
	if err := os.WriteFile(path, []byte("this is { not prometheus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := addMetrics(path, map[string]float64{"jobs_total": 1}); err == nil {
		t.Error("addMetrics over a garbage file succeeded")
	}
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
		if code != c.code {
			t.Errorf("%v: exit %d, want %d; stderr: %s", c.args, code, c.code, stderr)
		}
		if !strings.Contains(stderr, "berth: warning: --metrics-file") {
			t.Errorf("%v: no warning about the metrics file on stderr: %q", c.args, stderr)
		}
	}
	if _, err := os.Stat(filepath.Dir(metrics)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat %s: %v", filepath.Dir(metrics), err)
	}
}
