package fake

import (
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-dev/berth/runtime/archive"
)

// file is a regular file, a directory or a symbolic link, as its mode
// says. A container writes to its own entries only, never a layer's.
type file struct {
	Mode fs.FileMode
	Data []byte
	Link string
}

var rootDir = &file{Mode: fs.ModeDir | 0o755}

// layer is a diff: whiteouts remove a path and all below it, opaque
// directories lose their children, then files are set.
type layer struct {
	Files     map[string]*file
	Whiteouts []string
	Opaque    []string
}

func (l *layer) size() (n int64) {
	for _, f := range l.Files {
		if f.Mode.IsRegular() {
			n += int64(len(f.Data))
		}
	}
	return n
}

func parseLayer(raw []byte) (*layer, error) {
	al, err := archive.ReadLayer(raw)
	l := &layer{Files: map[string]*file{}, Whiteouts: al.Whiteouts, Opaque: al.Opaque}
	for _, e := range al.Entries {
		if f := l.Files[e.Link]; e.Hardlink && f != nil {
			l.Files[e.Path] = f
		} else if !e.Hardlink {
			l.Files[e.Path] = &file{Mode: e.Mode, Data: e.Data, Link: e.Link}
		}
	}
	return l, err
}

func apply(dst map[string]*file, l *layer) {
	for _, w := range l.Whiteouts {
		delete(dst, w)
		removeBelow(dst, w)
	}
	for _, o := range l.Opaque {
		removeBelow(dst, o)
	}
	maps.Copy(dst, l.Files)
	for p := range l.Files {
		for d := path.Dir(p); d != "/" && dst[d] == nil; d = path.Dir(d) {
			dst[d] = &file{Mode: fs.ModeDir | 0o755}
		}
	}
}

func removeBelow(m map[string]*file, p string) {
	prefix := strings.TrimSuffix(p, "/") + "/"
	for q := range m {
		if strings.HasPrefix(q, prefix) {
			delete(m, q)
		}
	}
}

// cfs is a container's file system: its changes over its image's files.
type cfs struct {
	mu    sync.Mutex
	base  map[string]*file
	upper map[string]*file // changed paths; nil: removed
}

func newCFS(base map[string]*file) *cfs {
	return &cfs{base: base, upper: map[string]*file{}}
}

// get returns the entry at the resolved path p, or nil.
func (c *cfs) get(p string) *file {
	if p == "/" {
		return rootDir
	}
	if f, ok := c.upper[p]; ok {
		return f
	}
	return c.base[p]
}

// set replaces the entry at the resolved path p (nil removes it).
func (c *cfs) set(p string, f *file) {
	if f == nil && c.base[p] == nil {
		delete(c.upper, p)
		return
	}
	c.upper[p] = f
}

// resolve follows the symbolic links in p, the last element's if followLast.
func (c *cfs) resolve(p string, followLast bool) (string, error) {
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(p, "/")[1:]
		cur, jumped := "", false
		for i, part := range parts {
			if part == "" {
				continue
			}
			next := cur + "/" + part
			f := c.get(next)
			last := i == len(parts)-1
			if f != nil && f.Mode&fs.ModeSymlink != 0 && (!last || followLast) {
				target := f.Link
				if !path.IsAbs(target) {
					target = path.Join("/"+cur, target)
				}
				p, jumped = path.Join(target, strings.Join(parts[i+1:], "/")), true
				break
			}
			if !last && (f == nil || !f.Mode.IsDir()) {
				if f == nil {
					return "", syscall.ENOENT
				}
				return "", syscall.ENOTDIR
			}
			cur = next
		}
		if !jumped {
			return "/" + strings.TrimPrefix(cur, "/"), nil
		}
	}
	return "", syscall.ELOOP
}

// lookup returns the resolved path and entry of p (nil if none).
func (c *cfs) lookup(p string, follow bool) (string, *file, error) {
	r, err := c.resolve(p, follow)
	if err != nil {
		return "", nil, err
	}
	return r, c.get(r), nil
}

func (c *cfs) stat(p string, follow bool) (file, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, f, err := c.lookup(p, follow)
	if err == nil && f == nil {
		err = syscall.ENOENT
	}
	if err != nil {
		return file{}, err
	}
	return *f, nil
}

func (c *cfs) readFile(p string) ([]byte, error) {
	f, err := c.stat(p, true)
	if err == nil && f.Mode.IsDir() {
		err = syscall.EISDIR
	}
	return f.Data, err
}

// create makes f at p, or with f nil, the regular file at p (an existing
// one copied, to be the container's own, unless trunc), and returns it.
func (c *cfs) create(p string, f *file, trunc, excl bool) (*file, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, old, err := c.lookup(p, true)
	switch {
	case err != nil:
		return nil, err
	case old != nil && (excl || f != nil):
		return nil, syscall.EEXIST
	case old != nil && old.Mode.IsDir():
		return nil, syscall.EISDIR
	case old == nil:
		if _, parent, _ := c.lookup(path.Dir(r), true); parent == nil || !parent.Mode.IsDir() {
			return nil, syscall.ENOENT
		}
	}
	if f == nil {
		f = &file{Mode: 0o644}
		if old != nil {
			f.Mode = old.Mode
			if !trunc {
				f.Data = slices.Clone(old.Data)
			}
		}
	}
	c.set(r, f)
	return f, nil
}

func (c *cfs) mkdir(p string, parents bool) error {
	if parents {
		if f, err := c.stat(p, true); err == nil && f.Mode.IsDir() {
			return nil
		}
		if err := c.mkdir(path.Dir(p), true); err != nil {
			return err
		}
	}
	_, err := c.create(p, &file{Mode: fs.ModeDir | 0o755}, false, true)
	return err
}

// remove deletes p, not following a final link.
func (c *cfs) remove(p string, recursive bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, f, err := c.lookup(p, false)
	switch {
	case err != nil:
		return err
	case r == "/":
		return syscall.EBUSY
	case f == nil:
		return syscall.ENOENT
	case f.Mode.IsDir() && !recursive:
		return syscall.EISDIR
	}
	for _, q := range c.below(r) {
		c.set(q, nil)
	}
	c.set(r, nil)
	return nil
}

// below returns the paths below directory p, sorted.
func (c *cfs) below(p string) []string {
	prefix := strings.TrimSuffix(p, "/") + "/"
	var out []string
	for _, m := range []map[string]*file{c.base, c.upper} {
		for q := range m {
			if strings.HasPrefix(q, prefix) && c.get(q) != nil {
				out = append(out, q)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// list returns the names in directory p, sorted, with their entries.
func (c *cfs) list(p string) ([]fs.DirEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, f, err := c.lookup(p, true)
	if err == nil && f == nil {
		err = syscall.ENOENT
	} else if err == nil && !f.Mode.IsDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, err
	}
	var out []fs.DirEntry
	for _, q := range c.below(r) {
		if name := q[len(strings.TrimSuffix(r, "/"))+1:]; !strings.Contains(name, "/") {
			out = append(out, fs.FileInfoToDirEntry(info{name, *c.get(q)}))
		}
	}
	return out, nil
}

func (c *cfs) write(f *file, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.Data = append(f.Data, b...)
}

func (c *cfs) diff() *layer {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &layer{Files: map[string]*file{}}
	for p, f := range c.upper {
		if f != nil {
			l.Files[p] = f
		} else if parent, changed := c.upper[path.Dir(p)]; !changed || parent != nil {
			l.Whiteouts = append(l.Whiteouts, p) // unless its parent's covers it
		}
	}
	slices.Sort(l.Whiteouts)
	return l
}
