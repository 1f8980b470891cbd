package wire_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/runtime/wire"
)

// TestChecksummedBinaryIsTheOneRun swaps the driver binary for another
// right after its checksum was checked: the process that runs is the one
// checked, not the impostor; a relaunch checks the file anew and refuses it.
func TestChecksummedBinaryIsTheOneRun(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(driverBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "berth-driver-mem")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	marker := filepath.Join(dir, "impostor-ran")
	impostor := writeScript(t, dir, "impostor", "touch "+marker+"\nexit 1")
	swapped := false
	defer wire.SetTestHookVerified(func(path string) {
		if path == bin && !swapped {
			swapped = true
			if err := os.Rename(impostor, bin); err != nil {
				t.Error(err)
			}
		}
	})()

	d := open(t, wire.Config{Path: bin, SHA256: hex.EncodeToString(sum[:]), Options: map[string]string{"version": "v3"}})
	if !swapped {
		t.Fatal("the hook did not run")
	}
	info, err := d.Info(context.Background())
	if err != nil || info.Name != "memdriver" || info.Version != "v3" {
		t.Fatalf("Info: %+v, %v; want the checked memdriver", info, err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the impostor ran (stat marker: %v)", err)
	}

	// The file at the path is now the impostor: a relaunch refuses it.
	if err := syscall.Kill(d.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(context.Background()); !errors.Is(err, wire.ErrChecksum) {
		t.Fatalf("Ping after the swap and a crash: %v, want ErrChecksum", err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the impostor ran on relaunch (stat marker: %v)", err)
	}
}

// TestUnpinnedScriptDriverRuns: a driver without a checksum that is a
// script (run through its interpreter) still starts: what runs is the file
// found, opened once.
func TestUnpinnedScriptDriverRuns(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	script := writeScript(t, dir, "berth-driver-script", "touch "+marker+"\nexec "+driverBin)
	d := open(t, wire.Config{Path: script})
	if err := d.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the script did not run: %v", err)
	}
}
