package fake

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// disk keeps the state in a directory shared by processes:
//
//	lock        flock(2)ed around every access
//	state.json  the state, replaced atomically (temp file and rename)
//	calls.json  the calls counted for faults
//	blobs/      layers, one tar per ID, written once
//	logs/       container output, <id>.1 (stdout) and <id>.2 (stderr)
type disk struct {
	dir  string
	lock *os.File
}

func openDisk(dir string) (*disk, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	return &disk{dir: dir, lock: f}, err
}

// flock takes the lock, shared or exclusive, and returns its release.
func (d *disk) flock(exclusive bool) (func(), error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(d.lock.Fd()), how)
		if err == nil {
			return func() { _ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN) }, nil
		} else if err != syscall.EINTR {
			return nil, err
		}
	}
}

// load takes the lock and reads the state.
func (d *disk) load(exclusive bool) (*state, func(), error) {
	unlock, err := d.flock(exclusive)
	if err != nil {
		return nil, nil, err
	}
	st := newState()
	b, err := os.ReadFile(filepath.Join(d.dir, "state.json"))
	if err == nil {
		err = json.Unmarshal(b, st)
	} else if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil {
		unlock()
		return nil, nil, fmt.Errorf("state file: %v", err)
	}
	for id, img := range st.Images {
		for _, ref := range img.Refs {
			st.refs[ref] = id
		}
	}
	st.order = slices.SortedFunc(maps.Values(st.Images), func(a, b *imageRec) int { return cmp.Compare(a.Seq, b.Seq) })
	return st, unlock, nil
}

// save writes the state. Call with the lock held exclusively.
func (d *disk) save(st *state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(d.dir, "state.json"), b)
}

// writeAtomic replaces name with data.
func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (d *disk) blobPath(id string) string {
	return filepath.Join(d.dir, "blobs", strings.TrimPrefix(id, "sha256:")+".tar")
}

// putBlob stores layer l (whose tar is raw, if known) as id unless it is
// there already.
func (d *disk) putBlob(id string, l *layer, raw []byte) (err error) {
	if _, err := os.Stat(d.blobPath(id)); err == nil {
		return nil
	}
	if raw == nil {
		if raw, err = l.encode(); err != nil {
			return err
		}
	}
	return writeAtomic(d.blobPath(id), raw)
}

func (d *disk) getBlob(id string) (*layer, error) {
	raw, err := os.ReadFile(d.blobPath(id))
	if err != nil {
		return nil, err
	}
	return parseLayer(raw)
}

func (d *disk) removeBlob(id string) { _ = os.Remove(d.blobPath(id)) }

// countCall counts a call of op in the calls file and returns the count.
func (d *disk) countCall(op string) (int, error) {
	unlock, err := d.flock(true)
	if err != nil {
		return 0, err
	}
	defer unlock()
	name := filepath.Join(d.dir, "calls.json")
	calls := map[string]int{}
	if b, err := os.ReadFile(name); err == nil {
		if err := json.Unmarshal(b, &calls); err != nil {
			return 0, fmt.Errorf("calls file: %v", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	calls[op]++
	b, err := json.Marshal(calls)
	if err != nil {
		return 0, err
	}
	return calls[op], writeAtomic(name, b)
}

// logPath is the file holding stream fd (1 or 2) of container id.
func (d *disk) logPath(id string, fd int) string {
	return filepath.Join(d.dir, "logs", fmt.Sprintf("%s.%d", id, fd))
}

func (d *disk) removeLogs(id string) {
	_ = os.Remove(d.logPath(id, 1))
	_ = os.Remove(d.logPath(id, 2))
}
