package chroot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/runtime"
)

// loadState reads the images and containers a previous driver process
// left. Unfinished work in tmp is dropped. A container that was running has
// lost its process (the driver was its parent): it is marked exited with
// the status of a kill.
func (d *Driver) loadState() error {
	if err := os.RemoveAll(filepath.Join(d.dir, "tmp")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "tmp"), 0o700); err != nil {
		return err
	}
	imgs, err := os.ReadDir(filepath.Join(d.dir, "images"))
	if err != nil {
		return err
	}
	for _, e := range imgs {
		img := &image{}
		if err := readJSON(filepath.Join(d.imageDir(e.Name()), "image.json"), img); err != nil {
			return err
		}
		d.images[img.Hex] = img
	}
	cs, err := os.ReadDir(filepath.Join(d.dir, "containers"))
	if err != nil {
		return err
	}
	for _, e := range cs {
		c := &container{done: make(chan struct{})}
		if err := readJSON(filepath.Join(d.containerDir(e.Name()), "container.json"), c); err != nil {
			os.RemoveAll(d.containerDir(e.Name())) // never started
			continue
		}
		if c.State != runtime.StateExited {
			c.State = runtime.StateExited
			c.Exit = runtime.ExitStatus{ExitCode: 137, Error: "the driver process that ran the container ended"}
			if err := d.saveContainer(c); err != nil {
				return err
			}
		}
		close(c.done)
		d.containers[c.ID] = c
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("chroot: %s: %w", path, err)
	}
	return nil
}
