package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
				assert.Equal(t, 0, code, "exit code; stderr %q", stderr)
				return
			}
			assert.Equal(t, exitFailed, code, "exit code; stdout %q", stdout)
			assert.Empty(t, stdout, "stdout")
			assert.Regexp(t, `\A[^\n]*`+regexp.QuoteMeta(c.word)+`[^\n]*\n\z`, stderr, "stderr: one line naming %q", c.word)
			_, err := os.Stat(os.Getenv("BERTH_STATE_DIR"))
			assert.ErrorIs(t, err, fs.ErrNotExist, "state directory made")
		})
	}
}

func TestConfigErrorNamesKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "berth.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("snapshots:\n  max_count: 3\n  tll: 1h\n"), 0o644))
	code, _, stderr := berthCLI(t, "--config", cfg, "snapshots", "ls")
	assert.Equal(t, exitFailed, code, "exit code; stderr %q", stderr)
	assert.Regexp(t, `\A[^\n]*snapshots\.tll[^\n]*\n\z`, stderr, "stderr: one line naming snapshots.tll")
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := berthCLI(t, "version")
	assert.Equal(t, 0, code, "version's exit code; stderr %q", stderr)
	assert.Regexp(t, `\Aberth `, stdout, "version's output")
}

func TestSnapshotsLsEmptyJSON(t *testing.T) {
	code, stdout, stderr := berthCLI(t, "snapshots", "ls", "--json")
	assert.Equal(t, 0, code, "snapshots ls --json on a fresh state: exit code; stderr %q", stderr)
	assert.JSONEq(t, "[]", stdout, "snapshots ls --json on a fresh state")
}

func TestPrintImageNamesTheRefAskedFor(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out}
	img := runtime.Image{ID: "sha256:1", Refs: []string{"a/other:1", "b/asked:2"}, Layers: 1}
	printImage(a, img, "b/asked:2")
	printImage(a, img, "")
	assert.Regexp(t, `\Aloaded b/asked:2 \(.*\nloaded a/other:1 \(`, out.String(), "printed: the ref asked for, then the first ref")
}
