package wire_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime/wire"
)

// TestChecksummedBinaryIsTheOneRun swaps the driver binary for another
// right after its checksum was checked: the process that runs is the one
// checked, not the impostor; a relaunch checks the file anew and refuses it.
func TestChecksummedBinaryIsTheOneRun(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(driverBin)
	require.NoError(t, err)
	bin := filepath.Join(dir, "berth-driver-mem")
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	sum := sha256.Sum256(data)
	marker := filepath.Join(dir, "impostor-ran")
	impostor := writeScript(t, dir, "impostor", "touch "+marker+"\nexit 1")
	swapped := false
	defer wire.SetTestHookVerified(func(path string) {
		if path == bin && !swapped {
			swapped = true
			assert.NoError(t, os.Rename(impostor, bin), "swap the impostor in")
		}
	})()

	d := open(t, wire.Config{Path: bin, SHA256: hex.EncodeToString(sum[:]), Options: map[string]string{"version": "v3"}})
	require.True(t, swapped, "the hook ran")
	info, err := d.Info(context.Background())
	require.NoError(t, err)
	require.Equal(t, [2]string{"memdriver", "v3"}, [2]string{info.Name, info.Version}, "Info: the checked memdriver")
	_, err = os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the impostor ran (stat marker)")

	// The file at the path is now the impostor: a relaunch refuses it.
	require.NoError(t, syscall.Kill(d.Pid(), syscall.SIGKILL))
	require.ErrorIs(t, d.Ping(context.Background()), wire.ErrChecksum, "Ping after the swap and a crash")
	_, err = os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the impostor ran on relaunch (stat marker)")
}

// TestUnpinnedScriptDriverRuns: a driver without a checksum that is a
// script (run through its interpreter) still starts: what runs is the file
// found, opened once.
func TestUnpinnedScriptDriverRuns(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := writeScript(t, dir, "berth-driver-script", "touch "+marker+"\nexec "+driverBin)
	d := open(t, wire.Config{Path: script})
	require.NoError(t, d.Ping(context.Background()))
	require.FileExists(t, marker, "the script ran")
}
