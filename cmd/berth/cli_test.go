package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
)

// berthCLI runs berth in-process with a fresh state directory and no
// config from the environment.
func berthCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("BERTH_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	for _, k := range []string{"BERTH_CONFIG", "BERTH_RUNTIME", "BERTH_PLUGIN_DIR", "BERTH_LOG_LEVEL", "BERTH_METRICS_FILE"} {
		t.Setenv(k, "")
	}
	var out, errb bytes.Buffer
	code = execute(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// Mistakes caught before any runtime is touched: exit code 125, one line
// naming the problem, no state directory made.
func TestBadInputBeforeRuntime(t *testing.T) {
	for _, c := range []struct {
		args []string
		word string
	}{
		{[]string{"run", "--", "true"}, "--image"},
		{[]string{"run", "--image", "x"}, "command"},
		{[]string{"run", "--image", "x", "--env", "NOEQ", "--", "true"}, "NOEQ"},
		{[]string{"run", "--image", "x", "--label", "=v", "--", "true"}, "--label"},
		{[]string{"run", "--image", "x", "--timeout", "-3s", "--", "true"}, "--timeout"},
		{[]string{"run", "--image", "x", "--memory", "lots", "--", "true"}, "--memory"},
		{[]string{"run", "--image", "x", "--cpus", "-0.5", "--", "true"}, "--cpus"},
		{[]string{"run", "--image", "x", "--snapshot", "--", "true"}, "--work-item"},
		{[]string{"run", "--image", "x", "--snapshot", "--no-snapshot", "--work-item", "w", "--", "true"}, "snapshot"},
		{[]string{"run", "--runtime", "nosuch", "--image", "x", "--", "true"}, "nosuch"},
		{[]string{"--log-level", "loud", "version"}, ""},
		{[]string{"--log-level", "loud", "snapshots", "ls"}, "loud"},
		{[]string{"nosuchcommand"}, "nosuchcommand"},
		{[]string{"--config", "/nonexistent/berth.yaml", "snapshots", "ls"}, "/nonexistent/berth.yaml"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := berthCLI(t, c.args...)
			if c.word == "" { // version ignores the global settings
				if code != 0 {
					t.Errorf("exit %d, stderr %q", code, stderr)
				}
				return
			}
			if code != exitFailed || stdout != "" {
				t.Errorf("exit %d, stdout %q; want 125 and nothing", code, stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.word) {
				t.Errorf("stderr %q: want one line naming %q", stderr, c.word)
			}
			if _, err := os.Stat(os.Getenv("BERTH_STATE_DIR")); !os.IsNotExist(err) {
				t.Errorf("state directory made: %v", err)
			}
		})
	}
}

func TestConfigErrorNamesKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(cfg, []byte("snapshots:\n  max_count: 3\n  tll: 1h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := berthCLI(t, "--config", cfg, "snapshots", "ls")
	if code != exitFailed || !strings.Contains(stderr, "snapshots.tll") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 125 and one line naming snapshots.tll", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := berthCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "berth ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestSnapshotsLsEmptyJSON(t *testing.T) {
	code, stdout, stderr := berthCLI(t, "snapshots", "ls", "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("snapshots ls --json on a fresh state: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestPrintImageNamesTheRefAskedFor(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out}
	img := runtime.Image{ID: "sha256:1", Refs: []string{"a/other:1", "b/asked:2"}, Layers: 1}
	printImage(a, img, "b/asked:2")
	printImage(a, img, "")
	if got := out.String(); !strings.HasPrefix(got, "loaded b/asked:2 (") || !strings.Contains(got, "\nloaded a/other:1 (") {
		t.Fatalf("printed %q; want the ref asked for, then the first ref", got)
	}
}
