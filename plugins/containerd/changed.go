package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/runtime"
)

var _ runtime.ChangeChecker = (*Driver)(nil)

// Changed reports whether the exited container id changed its file system
// (CapDiff). With the overlayfs snapshotter the container's snapshot
// mounts as an overlay whose upper directory holds exactly what the
// container wrote: it is read directly, without mounting anything or
// writing a diff. An entry there is a change, but for a directory that
// exists below with the same mode and owner (copied up because something
// under it changed, which counts by itself) and for what the engine makes
// in every container: the mount points of the spec's mounts and the
// working directory, with the directories above them. Another snapshotter
// answers true (in doubt, changed).
func (d *Driver) Changed(ctx context.Context, id string) (bool, error) {
	if strings.TrimSpace(id) == "" {
		return false, invalid("changed: empty container ID")
	}
	info, err := d.c.ContainerService().Get(ctx, id)
	if err != nil {
		return false, d.wrap(ctx, err, "changed %s", id)
	}
	if err := d.checkExited(ctx, id); err != nil {
		return false, err
	}
	if info.SnapshotKey == "" || info.Snapshotter == "" {
		return false, fmt.Errorf("changed %s: the container has no snapshot: %w", id, runtime.ErrFailedPrecondition)
	}
	mounts, err := d.c.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return false, d.wrap(ctx, err, "changed %s: mounts", id)
	}
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return true, nil
	}
	var upper string
	var lowers []string
	for _, o := range mounts[0].Options {
		if v, ok := strings.CutPrefix(o, "upperdir="); ok {
			upper = v
		} else if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
			lowers = strings.Split(v, ":")
		}
	}
	if upper == "" {
		return true, nil
	}
	made, err := engineMade(info.Spec.GetValue())
	if err != nil {
		return false, fmt.Errorf("changed %s: spec: %w", id, err)
	}
	changed := false
	err = filepath.WalkDir(upper, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, upper+string(filepath.Separator)))
		switch {
		case made.Covers(rel):
			if e.IsDir() {
				return filepath.SkipDir // a mount covers whatever is under it
			}
			return nil
		case e.IsDir() && (made.Ignores(rel, false) || sameDirBelow(p, rel, lowers)):
			return nil
		}
		changed = true
		return filepath.SkipAll
	})
	if err != nil {
		return false, fmt.Errorf("changed %s: read its changes: %w", id, err)
	}
	return changed, nil
}

// engineMade returns the paths the engine makes in the container of the
// OCI spec: its mounts' destinations and its working directory, with the
// directories above them.
func engineMade(spec []byte) (runtime.EngineMade, error) {
	var s struct {
		Process *struct {
			Cwd string `json:"cwd"`
		} `json:"process"`
		Mounts []struct {
			Destination string `json:"destination"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, err
	}
	made := runtime.NewEngineMade()
	for _, m := range s.Mounts {
		made.Add(m.Destination)
	}
	if s.Process != nil {
		made.Add(s.Process.Cwd)
	}
	return made, nil
}

// sameDirBelow reports whether the directory upper (the container's copy
// of rel) is a directory below too, with the same mode and owner, and not
// made opaque (its contents below hidden: the container replaced it).
func sameDirBelow(upper, rel string, lowers []string) bool {
	v := make([]byte, 1)
	if n, err := unix.Lgetxattr(upper, "trusted.overlay.opaque", v); err == nil && n == 1 && v[0] == 'y' {
		return false
	}
	var u unix.Stat_t
	if err := unix.Lstat(upper, &u); err != nil {
		return false
	}
	for _, l := range lowers {
		var s unix.Stat_t
		err := unix.Lstat(filepath.Join(l, filepath.FromSlash(rel)), &s)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			continue // not in this layer: look below
		}
		if err != nil {
			return false
		}
		return s.Mode == u.Mode && s.Uid == u.Uid && s.Gid == u.Gid
	}
	return false
}
