package wire_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime/wire"
)

// writeScript writes an executable shell script dir/name and returns its
// path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// quiet is a logger that drops everything.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// pathList joins dirs as $PATH does.
func pathList(dirs ...string) string {
	return strings.Join(dirs, string(os.PathListSeparator))
}

// TestDiscoverSkipsRelativePath: the empty, "." and relative entries of
// $PATH name the current directory (or places below it); Discover lists no
// driver from them.
func TestDiscoverSkipsRelativePath(t *testing.T) {
	cwd, abs := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(cwd, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeScript(t, cwd, "berth-driver-here", "exit 0")
	writeScript(t, filepath.Join(cwd, "rel"), "berth-driver-rel", "exit 0")
	want := writeScript(t, abs, "berth-driver-abs", "exit 0")
	t.Chdir(cwd)
	t.Setenv("PATH", pathList("", ".", "rel", abs))
	got, err := wire.Discover(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{want}) {
		t.Fatalf("Discover: %v, want only %s", got, want)
	}
	if got := wire.SearchPath(); !slices.Equal(got, []string{abs}) {
		t.Fatalf("SearchPath: %v, want [%s]", got, abs)
	}
}

// TestOpenNeverFromCurrentDir: a driver planted in the current directory,
// or in a relative $PATH entry, is never run, even when an earlier relative
// entry hides a later absolute one and even with GODEBUG=execerrdot=0
// (which makes exec.LookPath return such hits as if they were fine).
func TestOpenNeverFromCurrentDir(t *testing.T) {
	cwd := t.TempDir()
	marker := filepath.Join(t.TempDir(), "ran")
	if err := os.Mkdir(filepath.Join(cwd, "rel"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeScript(t, cwd, "berth-driver-mem", "touch "+marker)
	writeScript(t, filepath.Join(cwd, "rel"), "berth-driver-mem", "touch "+marker)
	t.Chdir(cwd)
	for _, godebug := range []string{"", "execerrdot=0"} {
		t.Setenv("GODEBUG", godebug)
		for _, rel := range []string{"", ".", "rel"} {
			t.Setenv("PATH", pathList(rel, driverDir))
			d, err := wire.Open(context.Background(), wire.Config{Name: "mem", Logger: quiet()})
			if err != nil {
				t.Fatalf("GODEBUG=%s PATH=%s: Open: %v, want the driver in %s", godebug, os.Getenv("PATH"), err, driverDir)
			}
			if d.Path() != driverBin {
				t.Errorf("GODEBUG=%s PATH=%s: driver %s, want %s", godebug, os.Getenv("PATH"), d.Path(), driverBin)
			}
			_ = d.Close()

			t.Setenv("PATH", rel)
			if d, err := wire.Open(context.Background(), wire.Config{Name: "mem", Logger: quiet()}); !errors.Is(err, wire.ErrDriverNotFound) {
				if err == nil {
					_ = d.Close()
				}
				t.Errorf("GODEBUG=%s PATH=%q: Open: %v, want ErrDriverNotFound", godebug, rel, err)
			}
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a driver from the current directory ran (stat marker: %v)", err)
	}
}
