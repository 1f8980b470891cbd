package fake

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
	"path"
	"strings"
	"time"

	"github.com/berth-dev/berth/runtime"
)

// parsedImage is an image read from an archive, not yet stored.
type parsedImage struct {
	id      string
	config  imageConfig
	created time.Time
	refs    []string
	layers  []parsedLayer
}

// parsedLayer is a layer read from an archive: its diff ID, its files and
// its tar, uncompressed.
type parsedLayer struct {
	id string
	*layer
	raw []byte
}

func badArchive(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), runtime.ErrInvalidArgument)
}

// parseArchive reads a docker-save tar (manifest.json) or an OCI layout
// tar (index.json).
func parseArchive(ctx context.Context, rd io.Reader) ([]*parsedImage, error) {
	entries, links := map[string][]byte{}, map[string]string{}
	for tr := tar.NewReader(rd); ; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, badArchive("not a tar stream: %v", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg:
			if entries[name], err = io.ReadAll(tr); err != nil {
				return nil, badArchive("read %s: %v", hdr.Name, err)
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
			return nil, badArchive("%s missing", name)
		}
		return b, nil
	}
	switch {
	case entries["manifest.json"] != nil:
		return parseDockerSave(entries["manifest.json"], blob)
	case entries["index.json"] != nil:
		var out []*parsedImage
		return out, parseOCI(entries["index.json"], 0, func(digest string) ([]byte, error) {
			return blob("blobs/" + strings.Replace(digest, ":", "/", 1))
		}, &out)
	}
	return nil, badArchive("neither manifest.json nor index.json in the archive")
}

func parseDockerSave(manifest []byte, blob func(string) ([]byte, error)) ([]*parsedImage, error) {
	var images []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(manifest, &images); err != nil {
		return nil, badArchive("manifest.json: %v", err)
	}
	var out []*parsedImage
	for _, m := range images {
		img, err := parseImage(m.Config, m.Layers, m.RepoTags, blob)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

type ociDescriptor struct {
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

// parseOCI reads the images of an OCI index (nested ones included).
func parseOCI(index []byte, depth int, blob func(string) ([]byte, error), out *[]*parsedImage) error {
	var idx struct{ Manifests []ociDescriptor }
	if err := json.Unmarshal(index, &idx); err != nil || depth > 4 {
		return badArchive("index: %v (depth %d)", err, depth)
	}
	for _, d := range idx.Manifests {
		b, err := blob(d.Digest)
		if err != nil {
			return err
		}
		var m struct {
			Manifests []ociDescriptor
			Config    ociDescriptor
			Layers    []ociDescriptor
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return badArchive("manifest %s: %v", d.Digest, err)
		}
		if m.Manifests != nil {
			if err := parseOCI(b, depth+1, blob, out); err != nil {
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
			refs = append(refs, name)
		}
		img, err := parseImage(m.Config.Digest, layers, refs, blob)
		if err != nil {
			return err
		}
		*out = append(*out, img)
	}
	return nil
}

// parseImage reads one image: its config and layers, named as blob knows
// them.
func parseImage(configName string, layers, refs []string, blob func(string) ([]byte, error)) (*parsedImage, error) {
	config, err := blob(configName)
	if err != nil {
		return nil, err
	}
	var cf struct {
		Created string `json:"created"`
		Config  struct {
			Env        []string          `json:"Env"`
			Cmd        []string          `json:"Cmd"`
			WorkingDir string            `json:"WorkingDir"`
			Labels     map[string]string `json:"Labels"`
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(config, &cf); err != nil {
		return nil, badArchive("image config: %v", err)
	}
	if len(cf.RootFS.DiffIDs) != 0 && len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, badArchive("image config lists %d layers, archive has %d", len(cf.RootFS.DiffIDs), len(layers))
	}
	img := &parsedImage{
		id:     digest(config),
		config: imageConfig{Env: cf.Config.Env, Cmd: cf.Config.Cmd, WorkingDir: cf.Config.WorkingDir, Labels: cf.Config.Labels},
	}
	img.created, _ = time.Parse(time.RFC3339Nano, cf.Created)
	for i, name := range layers {
		raw, err := blob(name)
		if err != nil {
			return nil, err
		}
		if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err == nil {
				raw, err = io.ReadAll(zr)
			}
			if err != nil {
				return nil, badArchive("layer %d: %v", i, err)
			}
		}
		l, err := parseLayer(raw)
		if err != nil {
			return nil, badArchive("layer %d: %v", i, err)
		}
		diff := digest(raw)
		if len(cf.RootFS.DiffIDs) != 0 && cf.RootFS.DiffIDs[i] != diff {
			return nil, badArchive("layer %d: digest %s, config says %s", i, diff, cf.RootFS.DiffIDs[i])
		}
		img.layers = append(img.layers, parsedLayer{diff, l, raw})
	}
	for _, ref := range refs {
		img.refs = append(img.refs, normalizeRef(ref))
	}
	return img, nil
}

// digest is the sha256 digest of b.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
