// Package testimage builds small base images for tests without a registry.
//
// Tar returns a docker-save format tar stream (which docker load, podman load,
// containerd's import and the fake runtime's LoadImage all accept) holding one
// layer: a static busybox at /bin/busybox, symlinks for the usual applets
// (sh, echo, cat, sleep, ...) and the directories a container expects.
// Everything is deterministic, so the same inputs give the same image ID.
package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/berth-dev/berth/runtime/archive"
)

// DefaultRef is the reference Tar gives the image when Options.Ref is empty.
const DefaultRef = "berth-test/busybox:latest"

// DefaultBusybox is where Debian's busybox-static package installs busybox.
const DefaultBusybox = "/bin/busybox"

// ErrNoBusybox is returned when the busybox binary cannot be read.
var ErrNoBusybox = errors.New("testimage: static busybox not found (apt-get install busybox-static)")

// Applets are the commands linked to busybox in the image.
var Applets = []string{
	"sh", "echo", "cat", "sleep", "true", "false", "test", "[", "mkdir", "rm",
	"touch", "ls", "head", "tail", "env", "seq", "dd", "sync", "kill", "printf",
	"wc", "du", "id", "pwd", "cp", "mv",
}

// Options say what to put in the image.
type Options struct {
	// Ref is the image's reference (default DefaultRef).
	Ref string
	// Busybox is the busybox binary's content; nil reads DefaultBusybox.
	// The fake runtime does not execute it, so its tests may pass any bytes.
	Busybox []byte
	// Files are extra files, by absolute path.
	Files map[string][]byte
	// Labels are set in the image config.
	Labels map[string]string
}

// Tar returns the image as a docker-save tar stream.
func Tar(opts Options) ([]byte, error) {
	if opts.Ref == "" {
		opts.Ref = DefaultRef
	}
	bb := opts.Busybox
	if bb == nil {
		var err error
		bb, err = os.ReadFile(DefaultBusybox)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoBusybox, err)
		}
	}
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "work", "root"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := lw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	files := map[string][]byte{
		"etc/passwd": []byte("root:x:0:0:root:/root:/bin/sh\n"),
		"etc/group":  []byte("root:x:0:\n"),
	}
	for p, b := range opts.Files {
		files[trimSlash(p)] = b
	}
	if err := writeFile(lw, "bin/busybox", bb, 0o755, epoch); err != nil {
		return nil, err
	}
	for _, a := range Applets {
		if err := lw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, p := range sortedKeys(files) {
		if err := writeFile(lw, p, files[p], 0o644, epoch); err != nil {
			return nil, err
		}
	}
	if err := lw.Close(); err != nil {
		return nil, err
	}
	diff := archive.Digest(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config": map[string]any{
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":        []string{"sh"},
			"WorkingDir": "/",
			"Labels":     opts.Labels,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diff}},
		"history": []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "berth testimage"}},
	})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = archive.Write(&out, []archive.Image{{RawConfig: config, Refs: []string{opts.Ref}, Layers: [][]byte{layer.Bytes()}}})
	return out.Bytes(), err
}

func writeFile(w *tar.Writer, name string, body []byte, mode int64, mtime time.Time) error {
	if err := w.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: mtime}); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

func trimSlash(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
