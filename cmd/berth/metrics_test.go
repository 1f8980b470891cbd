package main

import (
	"os"
	"path/filepath"
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
