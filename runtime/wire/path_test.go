package wire_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/wire"
)

// writeScript writes an executable shell script dir/name and returns its
// path.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
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
	require.NoError(t, os.Mkdir(filepath.Join(cwd, "rel"), 0o755))
	writeScript(t, cwd, "berth-driver-here", "exit 0")
	writeScript(t, filepath.Join(cwd, "rel"), "berth-driver-rel", "exit 0")
	want := writeScript(t, abs, "berth-driver-abs", "exit 0")
	t.Chdir(cwd)
	t.Setenv("PATH", pathList("", ".", "rel", abs))
	got, err := wire.Discover(nil)
	require.NoError(t, err)
	require.Equal(t, []string{want}, got, "Discover")
	require.Equal(t, []string{abs}, wire.SearchPath(), "SearchPath")
}

// TestOpenNeverFromCurrentDir: a driver planted in the current directory,
// or in a relative $PATH entry, is never run, even when an earlier relative
// entry hides a later absolute one and even with GODEBUG=execerrdot=0
// (which makes exec.LookPath return such hits as if they were fine).
func TestOpenNeverFromCurrentDir(t *testing.T) {
	cwd := t.TempDir()
	marker := filepath.Join(t.TempDir(), "ran")
	require.NoError(t, os.Mkdir(filepath.Join(cwd, "rel"), 0o755))
	writeScript(t, cwd, "berth-driver-mem", "touch "+marker)
	writeScript(t, filepath.Join(cwd, "rel"), "berth-driver-mem", "touch "+marker)
	t.Chdir(cwd)
	for _, godebug := range []string{"", "execerrdot=0"} {
		t.Setenv("GODEBUG", godebug)
		for _, rel := range []string{"", ".", "rel"} {
			t.Setenv("PATH", pathList(rel, driverDir))
			d, err := wire.Open(context.Background(), wire.Config{Name: "mem", Logger: quiet()})
			require.NoError(t, err, "GODEBUG=%s PATH=%s: Open, want the driver in %s", godebug, os.Getenv("PATH"), driverDir)
			assert.Equal(t, driverBin, d.Path(), "GODEBUG=%s PATH=%s: the driver", godebug, os.Getenv("PATH"))
			_ = d.Close()

			t.Setenv("PATH", rel)
			d, err = wire.Open(context.Background(), wire.Config{Name: "mem", Logger: quiet()})
			if err == nil {
				_ = d.Close()
			}
			assert.ErrorIs(t, err, wire.ErrDriverNotFound, "GODEBUG=%s PATH=%q: Open", godebug, rel)
		}
	}
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "a driver from the current directory ran (stat marker)")
}
