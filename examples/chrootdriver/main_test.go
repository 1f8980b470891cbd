package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/wire"
)

// TestPlugin builds the driver binary as berth would install it and runs
// the conformance suite against it over the plugin wire: one driver
// process, with a state dir of its own, per case.
func TestPlugin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the chroot driver needs root")
	}
	pluginDir := t.TempDir()
	bin := filepath.Join(pluginDir, "berth-driver-chroot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := wire.Open(ctx, wire.Config{
				Name:      "chroot",
				PluginDir: pluginDir,
				Options:   map[string]string{"state_dir": t.TempDir()},
			})
			if err != nil {
				t.Fatalf("wire.Open: %v", err)
			}
			t.Cleanup(func() {
				if err := d.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			return d
		},
	})
}

// TestStateDir checks that the driver process finds its state dir from the
// option berth passes.
func TestStateDir(t *testing.T) {
	pluginDir := t.TempDir()
	bin := filepath.Join(pluginDir, "berth-driver-chroot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := wire.Open(ctx, wire.Config{Path: bin, Options: map[string]string{"state_dir": state}})
	if err != nil {
		t.Fatalf("wire.Open: %v", err)
	}
	defer d.Close()
	if err := d.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for _, sub := range []string{"images", "containers", "tmp"} {
		if fi, err := os.Stat(filepath.Join(state, sub)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", fmt.Sprint(filepath.Join(state, sub)), err)
		}
	}
}
