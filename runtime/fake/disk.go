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
)

// A state dir holds:
//
//	lock        flock(2)ed around every access
//	state.json  the state, replaced atomically (temp file and rename)
//	blobs/      layers, one gob per ID, written once
//	logs/       container output, <id>.1 (stdout) and <id>.2 (stderr)
func (r *Runtime) openDir() error {
	err := errors.Join(os.MkdirAll(filepath.Join(r.dir, "blobs"), 0o755), os.MkdirAll(filepath.Join(r.dir, "logs"), 0o755))
	if err == nil {
		r.lock, err = os.OpenFile(filepath.Join(r.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return unavailable("state dir "+r.dir, err)
	}
	return nil
}

// load reads the state file. Call with the lock held.
func (r *Runtime) load() (*state, error) {
	st := newState()
	b, err := os.ReadFile(filepath.Join(r.dir, "state.json"))
	if err == nil {
		err = json.Unmarshal(b, st)
	} else if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %v", err)
	}
	for id, img := range st.Images {
		for _, ref := range img.Refs {
			st.refs[ref] = id
		}
	}
	st.order = slices.SortedFunc(maps.Values(st.Images), func(a, b *imageRec) int { return cmp.Compare(a.Seq, b.Seq) })
	return st, nil
}

// writeAtomic replaces name with data.
func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err = errors.Join(err, f.Close()); err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (r *Runtime) blobPath(id string) string {
	return filepath.Join(r.dir, "blobs", strings.TrimPrefix(id, "sha256:")+".gob")
}

// logPath is the file holding stream fd (1 or 2) of container id.
func (r *Runtime) logPath(id string, fd int) string {
	return filepath.Join(r.dir, "logs", fmt.Sprintf("%s.%d", id, fd))
}

func (r *Runtime) removeLogs(id string) {
	for fd := 1; r.dir != "" && fd <= 2; fd++ {
		_ = os.Remove(r.logPath(id, fd))
	}
}
