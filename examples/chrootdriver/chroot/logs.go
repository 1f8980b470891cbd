package chroot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// followInterval is how often a followed Logs looks for new output.
const followInterval = 20 * time.Millisecond

// Logs copies the container's output files. With Follow it keeps copying
// what the process appends until it has exited.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	c, err := d.getContainer(id)
	if err != nil {
		return err
	}
	dir := d.containerDir(c.ID)
	outF, err := os.Open(filepath.Join(dir, "stdout"))
	if err != nil {
		return fmt.Errorf("chroot: logs %s: %v: %w", id, err, runtime.ErrNotFound)
	}
	defer outF.Close()
	errF, err := os.Open(filepath.Join(dir, "stderr"))
	if err != nil {
		return fmt.Errorf("chroot: logs %s: %v: %w", id, err, runtime.ErrNotFound)
	}
	defer errF.Close()
	copyNew := func() error {
		if _, err := io.Copy(stdout, outF); err != nil {
			return err
		}
		_, err := io.Copy(stderr, errF)
		return err
	}
	for {
		exited := false
		select {
		case <-c.done:
			exited = true
		default:
		}
		if err := copyNew(); err != nil || !opts.Follow || exited {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chroot: logs %s: %w", id, ctx.Err())
		case <-c.done:
		case <-time.After(followInterval):
		}
	}
}
