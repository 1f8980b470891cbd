package fake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// disk keeps the state in a directory shared by processes:
//
//	lock          flock(2)ed around every access; holds the token of the
//	              last saved state, so a reader knows when to reload
//	state.json    the state, replaced atomically (temp file + rename)
//	blobs/        layers, one tar per diff ID, written once
//	logs/         container output, <id>.1 (stdout) and <id>.2 (stderr)
type disk struct {
	dir   string
	lock  *os.File
	token string // token of the state held in memory
	// Images and layers never change once recorded: their encodings are
	// kept from one save to the next, and so is the encoding of the
	// images, layers and references while they do not change.
	imageJSON map[*imageRec][]byte
	layerJSON map[*layerRec][]byte
	images    []byte
}

// tokenSize is the room for the token at the start of the lock file.
const tokenSize = 64

var tokenSeq atomic.Uint64

func openDisk(dir string) (*disk, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &disk{dir: dir, lock: f}, nil
}

// acquire takes the lock, shared or exclusive.
func (d *disk) acquire(exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(d.lock.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (d *disk) release() {
	_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
}

// current returns the token of the state on disk. Call with the lock held.
func (d *disk) current() (string, error) {
	buf := make([]byte, tokenSize)
	n, err := d.lock.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(string(buf[:n]), "\x00"), nil
}

// load reads the state. Call with the lock held.
func (d *disk) load() (*state, error) {
	st := newState()
	b, err := os.ReadFile(filepath.Join(d.dir, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("state file: %v", err)
	}
	fresh := newState()
	if st.Images == nil {
		st.Images = fresh.Images
	}
	if st.Refs == nil {
		st.Refs = fresh.Refs
	}
	if st.Layers == nil {
		st.Layers = fresh.Layers
	}
	if st.Containers == nil {
		st.Containers = fresh.Containers
	}
	return st, nil
}

// save writes the state and a new token. Call with the lock held
// exclusively. The token is written first: a crash between the two writes
// makes readers reload needlessly, never miss a change.
func (d *disk) save(st *state) error {
	b, err := d.encode(st)
	if err != nil {
		return err
	}
	token := fmt.Sprintf("%d.%d.%d", os.Getpid(), time.Now().UnixNano(), tokenSeq.Add(1))
	buf := make([]byte, tokenSize)
	copy(buf, token)
	if _, err := d.lock.WriteAt(buf, 0); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(d.dir, "state.json"), b); err != nil {
		return err
	}
	st.imagesChanged = false
	d.token = token
	return nil
}

// encode encodes st as json.Marshal would, reusing what it can of the last
// save.
func (d *disk) encode(st *state) ([]byte, error) {
	if st.imagesChanged || d.images == nil {
		var b bytes.Buffer
		b.WriteString(`"images":`)
		var err error
		if d.imageJSON, err = encodeMap(&b, st.Images, d.imageJSON); err != nil {
			return nil, err
		}
		b.WriteString(`,"layers":`)
		if d.layerJSON, err = encodeMap(&b, st.Layers, d.layerJSON); err != nil {
			return nil, err
		}
		refs, err := json.Marshal(st.Refs)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"refs":`)
		b.Write(refs)
		d.images = b.Bytes()
	}
	containers, err := json.Marshal(st.Containers)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"seq":%d,`, st.Seq)
	b.Write(d.images)
	b.WriteString(`,"containers":`)
	b.Write(containers)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encodeMap writes m as a JSON object, taking the encodings of its values
// from cache; it returns the cache of the values of m.
func encodeMap[T any](b *bytes.Buffer, m map[string]*T, cache map[*T][]byte) (map[*T][]byte, error) {
	next := make(map[*T][]byte, len(m))
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		j, ok := cache[v]
		if !ok {
			var err error
			if j, err = json.Marshal(v); err != nil {
				return nil, err
			}
		}
		next[v] = j
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(j)
	}
	b.WriteByte('}')
	return next, nil
}

// writeAtomic replaces name with data.
func writeAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), name); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func (d *disk) blobPath(id string) string {
	return filepath.Join(d.dir, "blobs", strings.TrimPrefix(id, "sha256:")+".tar")
}

// putBlob stores the layer tar raw as id unless it is there already.
func (d *disk) putBlob(id string, raw []byte) error {
	p := d.blobPath(id)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return writeAtomic(p, raw)
}

func (d *disk) getBlob(id string) (*layer, error) {
	raw, err := os.ReadFile(d.blobPath(id))
	if err != nil {
		return nil, err
	}
	l, err := parseLayer(raw)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %v", id, err)
	}
	return l, nil
}

func (d *disk) removeBlob(id string) {
	_ = os.Remove(d.blobPath(id))
}

// countCall counts a call of op in the calls file and returns the count.
// Call with r.mu held.
func (d *disk) countCall(op string) (int, error) {
	if err := d.acquire(true); err != nil {
		return 0, err
	}
	defer d.release()
	name := filepath.Join(d.dir, "calls.json")
	calls := map[string]int{}
	b, err := os.ReadFile(name)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &calls); err != nil {
			return 0, fmt.Errorf("calls file: %v", err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return 0, err
	}
	calls[op]++
	if b, err = json.Marshal(calls); err != nil {
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
