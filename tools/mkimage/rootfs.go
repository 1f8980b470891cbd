package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// rootfsOptions say how to make an image of root file system tars.
type rootfsOptions struct {
	// Layers are the root file system tars (plain or gzipped), bottom first:
	// each becomes one layer of the image.
	Layers []string
	// Ref is the image's reference.
	Ref string
	// Env are the image config's KEY=VALUE entries.
	Env []string
	// WorkDir is the image config's working directory.
	WorkDir string
	// Cmd is the image config's command.
	Cmd []string
	// TempDir holds the layers while their digests are computed ("": the
	// system's).
	TempDir string
}

// epoch is the creation time written in the image config, so that the same
// layers give the same image ID.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writeRootfsImage writes a docker-save archive of one image whose layers
// are the root file system tars of opts to w, streaming: each layer is
// copied once to a temporary file (its digest must be known before the
// image config is written) and never held in memory. Device nodes are left
// out (the engines make /dev in every container), as are the tar's root
// entry and any ".." path; a leading "./" is dropped from names.
func writeRootfsImage(w io.Writer, opts rootfsOptions) error {
	type layer struct {
		file   *os.File
		digest string // hex
		size   int64
	}
	var layers []layer
	defer func() {
		for _, l := range layers {
			l.file.Close()
			os.Remove(l.file.Name())
		}
	}()
	for _, name := range opts.Layers {
		f, err := os.CreateTemp(opts.TempDir, "mkimage-layer-*.tar")
		if err != nil {
			return err
		}
		layers = append(layers, layer{file: f})
		h := sha256.New()
		bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
		if err := copyRootfs(bw, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		size, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		layers[len(layers)-1].digest = hex.EncodeToString(h.Sum(nil))
		layers[len(layers)-1].size = size
	}

	diffIDs := make([]string, len(layers))
	history := make([]map[string]any, len(layers))
	names := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = "sha256:" + l.digest
		history[i] = map[string]any{"created": epoch.Format(time.RFC3339), "created_by": "berth mkimage -rootfs " + path.Base(opts.Layers[i])}
		names[i] = l.digest + "/layer.tar"
	}
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.Format(time.RFC3339),
		"config": map[string]any{
			"Env":        opts.Env,
			"Cmd":        opts.Cmd,
			"WorkingDir": opts.WorkDir,
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs},
		"history": history,
	})
	if err != nil {
		return err
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{opts.Ref}, "Layers": names}})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	written := map[string]bool{}
	for i, l := range layers {
		if written[names[i]] { // the same layer twice
			continue
		}
		written[names[i]] = true
		if err := tw.WriteHeader(&tar.Header{Name: names[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: l.size, ModTime: epoch}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, l.file); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{configName, config}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyRootfs copies the root file system tar at name (plain or gzipped) to
// w as a layer tar.
func copyRootfs(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	entries := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("not a tar stream: %w", err)
		}
		name, ok := layerName(h.Name)
		if !ok || h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
			continue
		}
		h.Name = name
		if h.Typeflag == tar.TypeLink {
			if h.Linkname, ok = layerName(h.Linkname); !ok {
				return fmt.Errorf("hard link %s to %q: outside the root", h.Name, h.Linkname)
			}
		}
		// Let the writer pick the format that holds the header, and keep the
		// layer reproducible.
		h.Format, h.AccessTime, h.ChangeTime = tar.FormatUnknown, time.Time{}, time.Time{}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
		entries++
	}
	if entries == 0 {
		return errors.New("no file in the tar")
	}
	return tw.Close()
}

// layerName returns a tar entry's name as a layer holds it: relative, clean,
// a directory's with its trailing slash; false for the root itself and for
// names that leave it.
func layerName(name string) (string, bool) {
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false
		}
	}
	clean := path.Clean("/" + name)
	if clean == "/" {
		return "", false
	}
	clean = clean[1:]
	if strings.HasSuffix(name, "/") {
		clean += "/"
	}
	return clean, true
}
