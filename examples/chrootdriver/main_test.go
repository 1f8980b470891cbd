package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/berth-dev/berth/runtime/wire"
)

// driver is this module's binary, named as berth looks it up.
var driver = &drivertest.Binary{Pkg: ".", Name: "berth-driver-chroot"}

func TestMain(m *testing.M) {
	code := m.Run()
	driver.Remove()
	os.Exit(code)
}

// TestPlugin runs the conformance suite against the driver binary over the
// plugin wire, found by name in its plugin directory as berth finds it: one
// driver process, with a state dir of its own, per case.
func TestPlugin(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the chroot driver needs root")
	}
	pluginDir := filepath.Dir(driver.Path(t))
	runtimetest.Run(t, runtimetest.Config{
		New: func(t testing.TB) runtime.Runtime {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := wire.Open(ctx, wire.Config{
				Name:       "chroot",
				PluginDirs: []string{pluginDir},
				Options:    map[string]string{"state_dir": t.TempDir()},
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
	state := t.TempDir()
	d := drivertest.Open(t, driver.Path(t), map[string]string{"state_dir": state})
	if err := d.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	for _, sub := range []string{"images", "containers", "tmp"} {
		if fi, err := os.Stat(filepath.Join(state, sub)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", filepath.Join(state, sub), err)
		}
	}
}
