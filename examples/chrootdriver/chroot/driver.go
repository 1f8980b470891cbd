// Package chroot is a small berth driver whose images are directories and
// whose containers are copies of them in which the command runs under
// chroot(2). It is an example of a third-party driver: it imports only
// berth's runtime contract, and main.go serves it with wire.Serve.
//
// It needs root. It isolates nothing but the file system (no namespaces, no
// cgroups, so no resource limits) and is meant to show how a driver is
// written and proven with the conformance suite, not to contain hostile
// jobs.
//
// State lives in a directory:
//
//	images/<hex>/image.json   references, labels, config, layer count
//	images/<hex>/rootfs/      the image's file system
//	containers/<id>/container.json
//	containers/<id>/rootfs/   a copy of the image's file system
//	containers/<id>/stdout, stderr
//	tmp/                      work in progress, removed on failure
package chroot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/berth-dev/berth/runtime"
)

// Version is the driver's version.
const Version = "0.1.0"

// Driver is the chroot driver. It is safe for concurrent use.
type Driver struct {
	dir string

	mu         sync.Mutex
	images     map[string]*image     // by hex ID
	containers map[string]*container // by ID
}

var _ runtime.Runtime = (*Driver)(nil)

// New returns a driver keeping its state in dir, which it creates if
// needed. Images and exited containers found there are taken over;
// containers that were running when a previous driver process ended are
// marked exited.
func New(dir string) (*Driver, error) {
	if dir == "" {
		return nil, fmt.Errorf("chroot: state dir is empty: %w", runtime.ErrInvalidArgument)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"images", "containers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("chroot: state dir: %w", err)
		}
	}
	d := &Driver{dir: dir, images: map[string]*image{}, containers: map[string]*container{}}
	if err := d.loadState(); err != nil {
		return nil, err
	}
	return d, nil
}

// Info describes the driver.
func (d *Driver) Info(ctx context.Context) (runtime.Info, error) {
	return runtime.Info{
		Name:            "chroot",
		Version:         Version,
		EngineVersion:   "chroot(2)",
		ProtocolVersion: runtime.ProtocolVersion,
		Capabilities:    []runtime.Capability{runtime.CapLoad, runtime.CapCommit, runtime.CapSquash},
	}, nil
}

// Ping checks that the driver runs as root and can write its state dir.
func (d *Driver) Ping(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("chroot: needs root to chroot: %w", runtime.ErrUnavailable)
	}
	f, err := os.CreateTemp(filepath.Join(d.dir, "tmp"), "ping-")
	if err != nil {
		return fmt.Errorf("chroot: state dir %s: %v: %w", d.dir, err, runtime.ErrUnavailable)
	}
	f.Close()
	return os.Remove(f.Name())
}

// PullImage is not supported: the driver has no registry client.
func (d *Driver) PullImage(ctx context.Context, ref string) (runtime.Image, error) {
	return runtime.Image{}, fmt.Errorf("chroot: pull %s: %w", ref, runtime.ErrNotImplemented)
}

// tempDir makes a work directory under the state dir's tmp.
func (d *Driver) tempDir(pattern string) (string, error) {
	return os.MkdirTemp(filepath.Join(d.dir, "tmp"), pattern)
}
