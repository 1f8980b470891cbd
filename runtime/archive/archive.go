// Package archive reads and writes image archives: the tar streams of
// `docker save` (manifest.json, image configs, layer tars) and OCI image
// layouts (index.json, blobs/sha256/...), which docker load, podman load,
// containerd's import and every berth driver's LoadImage take.
//
// Read takes an archive apart into images, each a config, its references
// and its layer tars (uncompressed, checked against the config's diff
// IDs); ReadLayer reads a layer tar into its files, whiteouts and opaque
// directories; Write puts images together as a docker-save archive; Retag
// copies an archive, streaming, with its only image renamed. Malformed input
// gives errors wrapping runtime.ErrInvalidArgument. The package imports
// only the standard library and package runtime, so drivers outside this
// module may use it.
package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// Image is one image of an archive.
type Image struct {
	// ID is the digest of RawConfig ("sha256:..."), as engines name images.
	ID string
	// Config is RawConfig, parsed.
	Config Config
	// RawConfig is the image config as stored.
	RawConfig []byte
	// Refs are the references the archive gives the image, as written.
	Refs []string
	// Layers are the layer tars, bottom first, uncompressed.
	Layers [][]byte
}

// Config is the part of an image config (the OCI image spec's) that berth
// reads.
type Config struct {
	Created time.Time   `json:"created"`
	Config  ImageConfig `json:"config"`
	RootFS  struct {
		Type string `json:"type"`
		// DiffIDs are the layers' digests; after Read, always those of
		// Image.Layers.
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// ImageConfig is how a container of the image runs.
type ImageConfig struct {
	Env        []string          `json:"Env,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// Digest returns the sha256 digest of b, as "sha256:" and 64 hex digits.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("archive: %s: %w", fmt.Sprintf(format, args...), runtime.ErrInvalidArgument)
}

// maxDepth bounds the nesting of OCI indexes.
const maxDepth = 4

// Read reads a docker-save archive (manifest.json) or an OCI image layout
// (index.json, nested indexes included) from r, in memory. Layers may be
// gzipped. It returns ctx's error if ctx ends first.
func Read(ctx context.Context, r io.Reader) ([]Image, error) {
	entries, links := map[string][]byte{}, map[string]string{}
	for tr := tar.NewReader(r); ; {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, invalid("not a tar stream: %v", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg:
			if entries[name], err = io.ReadAll(tr); err != nil {
				return nil, invalid("read %s: %v", hdr.Name, err)
			}
		case tar.TypeSymlink:
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
		}
	}
	for name, target := range links {
		if b, ok := entries[target]; ok {
			entries[name] = b
		}
	}
	blob := func(name string) ([]byte, error) {
		b, ok := entries[path.Clean(name)]
		if !ok {
			return nil, invalid("%s missing", name)
		}
		return b, nil
	}
	if m := entries["manifest.json"]; m != nil {
		return readDockerSave(m, blob)
	}
	if idx := entries["index.json"]; idx != nil {
		var out []Image
		return out, readOCI(idx, 0, func(digest string) ([]byte, error) {
			return blob("blobs/" + strings.Replace(digest, ":", "/", 1))
		}, &out)
	}
	return nil, invalid("neither manifest.json nor index.json in the archive")
}

func readDockerSave(manifest []byte, blob func(string) ([]byte, error)) ([]Image, error) {
	var images []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(manifest, &images); err != nil {
		return nil, invalid("manifest.json: %v", err)
	}
	var out []Image
	for _, m := range images {
		img, err := readImage(m.Config, m.Layers, m.RepoTags, blob)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

type descriptor struct {
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// readOCI reads the images of an OCI index, nested ones included.
func readOCI(index []byte, depth int, blob func(string) ([]byte, error), out *[]Image) error {
	var idx struct{ Manifests []descriptor }
	if err := json.Unmarshal(index, &idx); err != nil || depth > maxDepth {
		return invalid("index: %v (depth %d)", err, depth)
	}
	for _, d := range idx.Manifests {
		b, err := blob(d.Digest)
		if err != nil {
			return err
		}
		var m struct {
			Manifests []descriptor
			Config    descriptor
			Layers    []descriptor
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return invalid("manifest %s: %v", d.Digest, err)
		}
		if m.Manifests != nil {
			if err := readOCI(b, depth+1, blob, out); err != nil {
				return err
			}
			continue
		}
		var layers, refs []string
		for _, l := range m.Layers {
			layers = append(layers, l.Digest)
		}
		if name := d.Annotations["io.containerd.image.name"]; name != "" {
			refs = append(refs, name)
		} else if name := d.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(name, ":/") {
			refs = append(refs, name) // a full reference, not a bare tag
		}
		img, err := readImage(m.Config.Digest, layers, refs, blob)
		if err != nil {
			return err
		}
		*out = append(*out, img)
	}
	return nil
}

// readImage reads one image: its config and layers, named as blob knows
// them.
func readImage(configName string, layers, refs []string, blob func(string) ([]byte, error)) (Image, error) {
	raw, err := blob(configName)
	if err != nil {
		return Image{}, err
	}
	var cf struct {
		Config
		Created string `json:"created"` // read leniently below
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return Image{}, invalid("image config %s: %v", configName, err)
	}
	cf.Config.Created, _ = time.Parse(time.RFC3339Nano, cf.Created)
	diffs := cf.RootFS.DiffIDs
	if len(diffs) != 0 && len(diffs) != len(layers) {
		return Image{}, invalid("image config lists %d layers, the archive %d", len(diffs), len(layers))
	}
	img := Image{ID: Digest(raw), Config: cf.Config, RawConfig: raw, Refs: refs}
	img.Config.RootFS.DiffIDs = nil
	for i, name := range layers {
		l, err := blob(name)
		if err != nil {
			return Image{}, err
		}
		if len(l) > 2 && l[0] == 0x1f && l[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(l))
			if err == nil {
				l, err = io.ReadAll(zr)
			}
			if err != nil {
				return Image{}, invalid("layer %d: %v", i, err)
			}
		}
		diff := Digest(l)
		if len(diffs) != 0 && diffs[i] != diff {
			return Image{}, invalid("layer %d: digest %s, config says %s", i, diff, diffs[i])
		}
		img.Layers = append(img.Layers, l)
		img.Config.RootFS.DiffIDs = append(img.Config.RootFS.DiffIDs, diff)
	}
	return img, nil
}

// Entry is a file of a layer.
type Entry struct {
	// Path is absolute and clean.
	Path string
	// Mode holds the type (fs.ModeDir, fs.ModeSymlink, none for a regular
	// file or a hard link) and the permission bits.
	Mode fs.FileMode
	// Data is a regular file's content.
	Data []byte
	// Link is a symbolic link's target as written, or the absolute path a
	// hard link (Hardlink set) names.
	Link     string
	Hardlink bool
}

// Layer is a layer tar, read.
type Layer struct {
	// Entries are the files, in the tar's order.
	Entries []Entry
	// Whiteouts are the paths deleted, with everything below them
	// (.wh.NAME files).
	Whiteouts []string
	// Opaque are the directories whose lower content is hidden
	// (.wh..wh..opq files).
	Opaque []string
}

// ReadLayer reads an uncompressed layer tar. Devices, FIFOs and the root
// directory are left out.
func ReadLayer(b []byte) (Layer, error) {
	var l Layer
	for tr := tar.NewReader(bytes.NewReader(b)); ; {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return l, nil
		} else if err != nil {
			return Layer{}, invalid("layer: %v", err)
		}
		name := path.Clean("/" + hdr.Name)
		dir, base := path.Split(name)
		e := Entry{Path: name, Mode: fs.FileMode(hdr.Mode).Perm(), Link: hdr.Linkname}
		switch gone, wh := strings.CutPrefix(base, ".wh."); {
		case name == "/":
		case base == ".wh..wh..opq":
			l.Opaque = append(l.Opaque, path.Clean(dir))
		case wh:
			l.Whiteouts = append(l.Whiteouts, path.Join(dir, gone))
		case hdr.Typeflag == tar.TypeDir:
			e.Mode |= fs.ModeDir
			l.Entries = append(l.Entries, e)
		case hdr.Typeflag == tar.TypeReg:
			if e.Data, err = io.ReadAll(tr); err != nil {
				return Layer{}, invalid("layer: %s: %v", hdr.Name, err)
			}
			l.Entries = append(l.Entries, e)
		case hdr.Typeflag == tar.TypeSymlink:
			e.Mode |= fs.ModeSymlink
			l.Entries = append(l.Entries, e)
		case hdr.Typeflag == tar.TypeLink:
			e.Link, e.Hardlink = path.Clean("/"+hdr.Linkname), true
			l.Entries = append(l.Entries, e)
		}
	}
}

// epoch is the modification time of the entries Write writes, so that
// equal images give equal archives.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes images as a docker-save archive: a config file each,
// layers once each (by digest), and manifest.json. An image whose
// RawConfig is nil is written with Config, its diff IDs and rootfs type
// set from Layers.
func Write(w io.Writer, images []Image) error {
	tw := tar.NewWriter(w)
	file := func(name string, body []byte) error {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	type entry struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	manifest := []entry{}
	written := map[string]bool{}
	for _, img := range images {
		raw := img.RawConfig
		e := entry{RepoTags: img.Refs, Layers: []string{}}
		cfg := img.Config
		cfg.RootFS.Type, cfg.RootFS.DiffIDs = "layers", nil
		for _, l := range img.Layers {
			d := Digest(l)
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
			name := d[len("sha256:"):] + "/layer.tar"
			if !written[name] {
				if err := file(name, l); err != nil {
					return err
				}
				written[name] = true
			}
			e.Layers = append(e.Layers, name)
		}
		if raw == nil {
			var err error
			if raw, err = json.Marshal(cfg); err != nil {
				return err
			}
		}
		e.Config = Digest(raw)[len("sha256:"):] + ".json"
		if !written[e.Config] {
			if err := file(e.Config, raw); err != nil {
				return err
			}
			written[e.Config] = true
		}
		manifest = append(manifest, e)
	}
	b, err := json.Marshal(manifest)
	if err == nil {
		err = file("manifest.json", b)
	}
	if err != nil {
		return err
	}
	return tw.Close()
}

// WriteConfig writes a docker-save archive of one image that holds its
// config and manifest but no layer file: for an engine that has every
// layer of the image already (docker load reads a layer file only for a
// layer it lacks). The manifest names the layers by the config's diff IDs.
// It returns the image's ID, the digest of config.
func WriteConfig(w io.Writer, config []byte, ref string) (string, error) {
	var cfg Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		return "", invalid("image config: %v", err)
	}
	id := Digest(config)
	layers := make([]string, len(cfg.RootFS.DiffIDs))
	for i, d := range cfg.RootFS.DiffIDs {
		layers[i] = strings.TrimPrefix(d, "sha256:") + "/layer.tar"
	}
	configName := id[len("sha256:"):] + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{ref}, "Layers": layers}})
	if err != nil {
		return "", err
	}
	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		body []byte
	}{{configName, config}, {"manifest.json", manifest}} {
		h := &tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body)), ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.body); err != nil {
			return "", err
		}
	}
	return id, tw.Close()
}

// Retag copies the archive r (docker-save or OCI layout) to w, streaming,
// with its only image named ref; the legacy "repositories" file is left
// out (manifest.json is the authority). An archive that does not hold
// exactly one image, or is malformed, gives runtime.ErrInvalidArgument.
func Retag(r io.Reader, w io.Writer, ref string) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		} else if err != nil {
			return invalid("not a tar stream: %v", err)
		}
		var edit func([]byte, string) ([]byte, error)
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json":
			edit = retagManifest
		case "index.json":
			edit = retagIndex
		case "repositories":
			continue
		}
		if edit == nil {
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return invalid("read %s: %v", h.Name, err)
		}
		if data, err = edit(data, ref); err != nil {
			return err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
}

// retagManifest names the only image of a docker-save manifest.json.
func retagManifest(data []byte, ref string) ([]byte, error) {
	var m []map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, invalid("manifest.json: %v", err)
	}
	if len(m) != 1 {
		return nil, invalid("retag needs an archive with one image, this one has %d", len(m))
	}
	m[0]["RepoTags"] = []string{ref}
	return json.Marshal(m)
}

// retagIndex names the only manifest of an OCI layout's index.json.
func retagIndex(data []byte, ref string) ([]byte, error) {
	var idx map[string]any
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, invalid("index.json: %v", err)
	}
	ms, _ := idx["manifests"].([]any)
	if len(ms) != 1 {
		return nil, invalid("retag needs an archive with one image, this one has %d", len(ms))
	}
	m, ok := ms[0].(map[string]any)
	if !ok {
		return nil, invalid("index.json: malformed manifest entry")
	}
	ann, _ := m["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann["org.opencontainers.image.ref.name"] = ref
	ann["io.containerd.image.name"] = ref
	m["annotations"] = ann
	return json.Marshal(idx)
}
