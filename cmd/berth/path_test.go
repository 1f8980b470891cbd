package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if err := os.Mkdir(filepath.Join(cwd, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cwd, filepath.Join(cwd, "rel")} {
		script := "#!/bin/sh\ntouch " + marker + "\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, "berth-driver-fake"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(cwd)
	t.Setenv("BERTH_PLUGIN_DIR", t.TempDir()) // empty: PATH decides
	real := filepath.Join(fakeDriverDir(t), "berth-driver-fake")
	for _, godebug := range []string{"", "execerrdot=0"} {
		t.Setenv("GODEBUG", godebug)
		for _, rel := range []string{"", ".", "rel"} {
			t.Setenv("PATH", rel+string(os.PathListSeparator)+fakeDriverDir(t))
			if code, _, stderr := f.berth("run", "--image", "base:latest", "--", "true"); code != 0 {
				t.Errorf("GODEBUG=%s PATH=%s: run: exit %d: %s", godebug, os.Getenv("PATH"), code, stderr)
			}
			code, stdout, stderr := f.berth("plugins", "ls", "--json")
			var infos []pluginInfo
			if err := json.Unmarshal([]byte(stdout), &infos); code != 0 || err != nil {
				t.Fatalf("plugins ls: exit %d, %v: %s", code, err, stderr)
			}
			if len(infos) != 1 || infos[0].Path != real || !infos[0].Healthy {
				t.Errorf("GODEBUG=%s PATH=%s: plugins ls: %+v, want only %s, healthy", godebug, os.Getenv("PATH"), infos, real)
			}

			t.Setenv("PATH", rel)
			if code, _, stderr := f.berth("run", "--image", "base:latest", "--", "true"); code != exitFailed {
				t.Errorf("GODEBUG=%s PATH=%q: run: exit %d, want 125 (no driver): %s", godebug, rel, code, stderr)
			}
			if code, stdout, _ := f.berth("plugins", "ls", "--json"); code != 0 || strings.TrimSpace(stdout) != "[]" {
				t.Errorf("GODEBUG=%s PATH=%q: plugins ls: exit %d, %s; want none", godebug, rel, code, stdout)
			}
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a driver from the current directory ran (stat marker: %v)", err)
	}
}
