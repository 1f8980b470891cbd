package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDriverNeverFromCurrentDir: with a driver planted in the current
// directory and reachable through empty, "." or relative PATH entries
// (ahead of the absolute entry that holds the real one), neither berth run
// nor berth plugins ls ever runs or lists it, even with
// GODEBUG=execerrdot=0.
func TestDriverNeverFromCurrentDir(t *testing.T) {
	f := newFake(t, "")
	cwd := t.TempDir()
	marker := filepath.Join(t.TempDir(), "planted-driver-ran")
	require.NoError(t, os.Mkdir(filepath.Join(cwd, "rel"), 0o755))
	for _, dir := range []string{cwd, filepath.Join(cwd, "rel")} {
		script := "#!/bin/sh\ntouch " + marker + "\nexit 1\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "berth-driver-fake"), []byte(script), 0o755))
	}
	t.Chdir(cwd)
	t.Setenv("BERTH_PLUGIN_DIR", t.TempDir()) // empty: PATH decides
	real := filepath.Join(fakeDriverDir(t), "berth-driver-fake")
	for _, godebug := range []string{"", "execerrdot=0"} {
		t.Setenv("GODEBUG", godebug)
		for _, rel := range []string{"", ".", "rel"} {
			t.Setenv("PATH", rel+string(os.PathListSeparator)+fakeDriverDir(t))
			code, _, stderr := f.berth("run", "--image", "base:latest", "--", "true")
			assert.Equal(t, 0, code, "GODEBUG=%s PATH=%s: run's exit code; stderr: %s", godebug, os.Getenv("PATH"), stderr)
			code, stdout, stderr := f.berth("plugins", "ls", "--json")
			require.Equal(t, 0, code, "plugins ls's exit code; stderr: %s", stderr)
			var infos []pluginInfo
			require.NoError(t, json.Unmarshal([]byte(stdout), &infos), "plugins ls's output")
			if assert.Len(t, infos, 1, "GODEBUG=%s PATH=%s: plugins ls: want only %s", godebug, os.Getenv("PATH"), real) {
				assert.Equal(t, real, infos[0].Path, "GODEBUG=%s PATH=%s: plugins ls's driver", godebug, os.Getenv("PATH"))
				assert.True(t, infos[0].Healthy, "GODEBUG=%s PATH=%s: plugins ls: %s healthy", godebug, os.Getenv("PATH"), real)
			}

			t.Setenv("PATH", rel)
			code, _, stderr = f.berth("run", "--image", "base:latest", "--", "true")
			assert.Equal(t, exitFailed, code, "GODEBUG=%s PATH=%q: run's exit code (no driver); stderr: %s", godebug, rel, stderr)
			code, stdout, _ = f.berth("plugins", "ls", "--json")
			assert.Equal(t, 0, code, "GODEBUG=%s PATH=%q: plugins ls's exit code", godebug, rel)
			assert.JSONEq(t, "[]", stdout, "GODEBUG=%s PATH=%q: plugins ls lists no driver", godebug, rel)
		}
	}
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "a driver from the current directory ran (stat marker)")
}
