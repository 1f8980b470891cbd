package fake

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
)

// File kinds.
const (
	kindFile = "f"
	kindDir  = "d"
	kindLink = "l"
)

// file is one entry of a layer or of a container's file system. Entries
// shared with a layer are never modified: a container copies an entry
// before writing it.
type file struct {
	Kind string
	Mode uint32
	Data []byte
	Link string
}

// layer is a file system diff: whiteouts remove a path and everything
// below it, opaque directories lose their children, then files are set.
// Paths are absolute and clean.
type layer struct {
	Files     map[string]*file
	Whiteouts []string
	Opaque    []string
}

// size is the sum of the sizes of the layer's regular files.
func (l *layer) size() int64 {
	var n int64
	for _, f := range l.Files {
		if f.Kind == kindFile {
			n += int64(len(f.Data))
		}
	}
	return n
}

// encode returns the layer as a layer tar, in the format of docker-save
// archives (whiteouts as .wh. files), and its digest (the diff ID).
// Equal layers encode to equal bytes.
func (l *layer) encode() ([]byte, string, error) {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	entry := func(h *tar.Header, data []byte) error {
		h.Format = tar.FormatPAX
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		_, err := w.Write(data)
		return err
	}
	for _, p := range l.Whiteouts {
		if err := entry(&tar.Header{Name: path.Join(path.Dir(p), ".wh."+path.Base(p))[1:], Typeflag: tar.TypeReg}, nil); err != nil {
			return nil, "", err
		}
	}
	for _, p := range l.Opaque {
		if err := entry(&tar.Header{Name: path.Join(p, ".wh..wh..opq")[1:], Typeflag: tar.TypeReg}, nil); err != nil {
			return nil, "", err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(l.Files)) {
		f := l.Files[p]
		h := &tar.Header{Name: p[1:], Mode: int64(f.Mode)}
		switch f.Kind {
		case kindDir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case kindLink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := entry(h, f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b.Bytes())
	return b.Bytes(), "sha256:" + hex.EncodeToString(sum[:]), nil
}

// apply applies l on top of the flat file system dst.
func apply(dst map[string]*file, l *layer) {
	for _, w := range l.Whiteouts {
		removeTree(dst, w, true)
	}
	for _, o := range l.Opaque {
		removeTree(dst, o, false)
	}
	for p, f := range l.Files {
		dst[p] = f
	}
	for p := range l.Files {
		addParents(dst, p)
	}
}

// removeTree deletes everything below p from m, and p itself if self.
func removeTree(m map[string]*file, p string, self bool) {
	if self {
		delete(m, p)
	}
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for q := range m {
		if strings.HasPrefix(q, prefix) {
			delete(m, q)
		}
	}
}

// addParents creates the missing parent directories of p.
func addParents(m map[string]*file, p string) {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if m[d] != nil {
			return
		}
		m[d] = &file{Kind: kindDir, Mode: 0o755}
	}
}

// File system errors, worded as busybox words them.
var (
	errNoEnt  = errors.New("No such file or directory")
	errExist  = errors.New("File exists")
	errIsDir  = errors.New("Is a directory")
	errNotDir = errors.New("Not a directory")
	errLoop   = errors.New("Too many levels of symbolic links")
)

// cfs is a container's file system: its image's files plus the changes the
// container made, tracked so that they can be committed as a layer.
type cfs struct {
	mu      sync.Mutex
	base    map[string]*file // the image's files; read-only
	files   map[string]*file // the current files
	changed map[string]bool  // paths changed relative to base
	owned   map[*file]bool   // entries this container may modify
}

func newCFS(base map[string]*file) *cfs {
	files := make(map[string]*file, len(base))
	for p, f := range base {
		files[p] = f
	}
	return &cfs{base: base, files: files, changed: map[string]bool{}, owned: map[*file]bool{}}
}

// resolve follows the symbolic links in p (absolute and clean), the last
// element only if followLast.
func (c *cfs) resolve(p string, followLast bool) (string, error) {
	for hops := 0; hops < 32; hops++ {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		cur := ""
		jumped := false
		for i, part := range parts {
			if part == "" {
				continue
			}
			next := cur + "/" + part
			f := c.files[next]
			if f != nil && f.Kind == kindLink && (i < len(parts)-1 || followLast) {
				target := f.Link
				if !strings.HasPrefix(target, "/") {
					dir := cur
					if dir == "" {
						dir = "/"
					}
					target = path.Join(dir, target)
				}
				p = path.Clean(target + "/" + strings.Join(parts[i+1:], "/"))
				jumped = true
				break
			}
			if f != nil && f.Kind != kindDir && i < len(parts)-1 {
				return "", errNotDir
			}
			cur = next
		}
		if !jumped {
			if cur == "" {
				return "/", nil
			}
			return cur, nil
		}
	}
	return "", errLoop
}

// lookup returns the entry at p, following links, or nil.
func (c *cfs) lookup(p string) (string, *file) {
	r, err := c.resolve(p, true)
	if err != nil {
		return p, nil
	}
	if r == "/" {
		return r, &file{Kind: kindDir, Mode: 0o755}
	}
	return r, c.files[r]
}

// stat returns a copy of the entry at p (links followed), or nil.
func (c *cfs) stat(p string) *file {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, f := c.lookup(p)
	if f == nil {
		return nil
	}
	cp := *f
	return &cp
}

// readFile returns the content of the regular file at p.
func (c *cfs) readFile(p string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, f := c.lookup(p)
	switch {
	case f == nil:
		return nil, errNoEnt
	case f.Kind == kindDir:
		return nil, errIsDir
	}
	return slices.Clone(f.Data), nil
}

// parentDir checks that the parent of p exists and is a directory.
func (c *cfs) parentDir(p string) error {
	_, f := c.lookup(path.Dir(p))
	switch {
	case f == nil:
		return errNoEnt
	case f.Kind != kindDir:
		return errNotDir
	}
	return nil
}

// set replaces the entry at the resolved path p.
func (c *cfs) set(p string, f *file) {
	c.files[p] = f
	c.changed[p] = true
	c.owned[f] = true
}

// create opens the regular file at p for writing, truncating it unless
// appending, and returns the writer that appends to it.
func (c *cfs) create(p string, appending bool) (*fileWriter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolve(p, true)
	if err != nil {
		return nil, err
	}
	old := c.files[r]
	if old != nil && old.Kind == kindDir || r == "/" {
		return nil, errIsDir
	}
	if old == nil {
		if err := c.parentDir(r); err != nil {
			return nil, err
		}
	}
	switch {
	case old != nil && appending && c.owned[old]:
		c.changed[r] = true
		return &fileWriter{c: c, f: old}, nil
	case old != nil && appending:
		f := &file{Kind: kindFile, Mode: old.Mode, Data: slices.Clone(old.Data)}
		c.set(r, f)
		return &fileWriter{c: c, f: f}, nil
	}
	mode := uint32(0o644)
	if old != nil {
		mode = old.Mode
	}
	f := &file{Kind: kindFile, Mode: mode}
	c.set(r, f)
	return &fileWriter{c: c, f: f}, nil
}

// fileWriter appends to a file the container owns.
type fileWriter struct {
	c *cfs
	f *file
}

func (w *fileWriter) Write(b []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.f.Data = append(w.f.Data, b...)
	return len(b), nil
}

// mkdir creates the directory p, and its parents if parents is set.
func (c *cfs) mkdir(p string, parents bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mkdirLocked(p, parents)
}

func (c *cfs) mkdirLocked(p string, parents bool) error {
	if parents {
		if d := path.Dir(p); d != p {
			if err := c.mkdirLocked(d, true); err != nil {
				return err
			}
		}
	}
	r, err := c.resolve(p, true)
	if err != nil {
		return err
	}
	if r == "/" {
		if parents {
			return nil
		}
		return errExist
	}
	if f := c.files[r]; f != nil {
		if parents && f.Kind == kindDir {
			return nil
		}
		return errExist
	}
	if err := c.parentDir(r); err != nil {
		return err
	}
	c.set(r, &file{Kind: kindDir, Mode: 0o755})
	return nil
}

// touch creates p as an empty file if it does not exist.
func (c *cfs) touch(p string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolve(p, true)
	if err != nil {
		return err
	}
	if c.files[r] != nil || r == "/" {
		return nil
	}
	if err := c.parentDir(r); err != nil {
		return err
	}
	c.set(r, &file{Kind: kindFile, Mode: 0o644})
	return nil
}

// remove deletes p (not following a final link); a directory needs
// recursive.
func (c *cfs) remove(p string, recursive bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolve(p, false)
	if err != nil {
		return err
	}
	f := c.files[r]
	switch {
	case r == "/":
		return errors.New("Device or resource busy")
	case f == nil:
		return errNoEnt
	case f.Kind == kindDir && !recursive:
		return errIsDir
	}
	prefix := r + "/"
	for q := range c.files {
		if q == r || strings.HasPrefix(q, prefix) {
			delete(c.files, q)
			c.changed[q] = true
		}
	}
	return nil
}

// list returns the names in directory p, sorted; for a file, nil and the
// file's entry.
func (c *cfs) list(p string) ([]string, *file, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, f := c.lookup(p)
	if f == nil {
		return nil, nil, errNoEnt
	}
	if f.Kind != kindDir {
		return nil, f, nil
	}
	prefix := r + "/"
	if r == "/" {
		prefix = "/"
	}
	var names []string
	for q := range c.files {
		if rest, ok := strings.CutPrefix(q, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	sort.Strings(names)
	return names, f, nil
}

// diff returns the container's changes as a layer.
func (c *cfs) diff() *layer {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &layer{Files: map[string]*file{}}
	var gone []string
	for p := range c.changed {
		if f := c.files[p]; f != nil {
			l.Files[p] = f
		} else if c.base[p] != nil {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	for _, p := range gone {
		covered := false
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := slices.BinarySearch(gone, d); ok && c.files[d] == nil {
				covered = true
				break
			}
		}
		if !covered {
			l.Whiteouts = append(l.Whiteouts, p)
		}
	}
	return l
}

// flatLayer returns the whole file system m as one layer.
func flatLayer(m map[string]*file) *layer {
	l := &layer{Files: make(map[string]*file, len(m))}
	for p, f := range m {
		l.Files[p] = f
	}
	return l
}
