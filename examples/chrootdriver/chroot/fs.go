package chroot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/runtime"
)

// safeName cleans an archive member name into a path relative to the
// archive's root; it refuses names that leave the root.
func safeName(name string) (string, error) {
	for _, p := range strings.Split(filepath.ToSlash(name), "/") {
		if p == ".." {
			return "", fmt.Errorf("chroot: archive member %q leaves the root: %w", name, runtime.ErrInvalidArgument)
		}
	}
	return strings.TrimPrefix(filepath.Clean("/"+name), "/"), nil
}

// checkParents refuses to write below a symlink of the tree (which could
// point out of it). Layers of real images name real paths, so this costs
// nothing in practice.
func checkParents(root, rel string) error {
	dir := root
	parts := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	for _, p := range parts {
		if p == "." || p == "" {
			continue
		}
		dir = filepath.Join(dir, p)
		fi, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("chroot: layer writes %q below the symlink %q: %w", rel, p, runtime.ErrInvalidArgument)
		}
	}
	return nil
}

// extractLayer applies one layer tar to root, with its whiteouts.
func extractLayer(ctx context.Context, root string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("chroot: layer: %v: %w", err, runtime.ErrInvalidArgument)
		}
		rel, err := safeName(hdr.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		if err := checkParents(root, rel); err != nil {
			return err
		}
		dir, base := filepath.Split(rel)
		if base == ".wh..wh..opq" {
			entries, _ := os.ReadDir(filepath.Join(root, dir))
			for _, e := range entries {
				os.RemoveAll(filepath.Join(root, dir, e.Name()))
			}
			continue
		}
		if gone, ok := strings.CutPrefix(base, ".wh."); ok {
			os.RemoveAll(filepath.Join(root, dir, gone))
			continue
		}
		if err := extractEntry(root, rel, hdr, tr); err != nil {
			return err
		}
	}
}

func extractEntry(root, rel string, hdr *tar.Header, r io.Reader) error {
	target := filepath.Join(root, rel)
	if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	mode := hdr.FileInfo().Mode() & permBits
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	case tar.TypeReg:
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		return errors.Join(os.Symlink(hdr.Linkname, target), os.Lchown(target, hdr.Uid, hdr.Gid))
	case tar.TypeLink:
		src, err := safeName(hdr.Linkname)
		if err != nil {
			return err
		}
		return os.Link(filepath.Join(root, src), target)
	default:
		return nil // devices and fifos: a container gets its own /dev
	}
	if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}

// permBits are the mode bits kept from archives and trees.
const permBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// copyTree copies the tree at src to dst (which must not exist), keeping
// modes, owners and symlinks; hard links become copies and special files
// are left out.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFile(path, target); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			if st != nil {
				return os.Lchown(target, int(st.Uid), int(st.Gid))
			}
			return nil
		default:
			return nil
		}
		if st != nil {
			if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
		return os.Chmod(target, fi.Mode()&permBits)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// treeSize sums the sizes of the regular files in the tree.
func treeSize(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// devices are the device nodes a container gets in /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// makeDevices creates the usual character devices in root/dev.
func makeDevices(root string) error {
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	for _, d := range devices {
		path := filepath.Join(dev, d.name)
		os.Remove(path)
		if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, int(d.major<<8|d.minor)); err != nil {
			return fmt.Errorf("chroot: mknod %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o666); err != nil {
			return err
		}
	}
	return nil
}
