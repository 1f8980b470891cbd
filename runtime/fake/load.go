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
	layers  []*layer
	raws    [][]byte // the layer tars, uncompressed
	diffIDs []string
}

func badArchive(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), runtime.ErrInvalidArgument)
}

// parseArchive reads a docker-save tar (manifest.json) or an OCI layout
// tar (index.json).
func parseArchive(ctx context.Context, rd io.Reader) ([]*parsedImage, error) {
	entries := map[string][]byte{}
	links := map[string]string{}
	tr := tar.NewReader(rd)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badArchive("not a tar stream: %v", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, badArchive("read %s: %v", hdr.Name, err)
			}
			entries[name] = b
		case tar.TypeSymlink:
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
		}
	}
	for name, target := range links {
		if b, ok := entries[target]; ok {
			entries[name] = b
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case entries["manifest.json"] != nil:
		return parseDockerSave(entries)
	case entries["index.json"] != nil:
		return parseOCI(entries)
	}
	return nil, badArchive("neither manifest.json nor index.json in the archive")
}

// imageConfigFile is the part of an image config file the fake reads.
type imageConfigFile struct {
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

func parseDockerSave(entries map[string][]byte) ([]*parsedImage, error) {
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil {
		return nil, badArchive("manifest.json: %v", err)
	}
	var out []*parsedImage
	for _, m := range manifest {
		config, ok := entries[path.Clean(m.Config)]
		if !ok {
			return nil, badArchive("config %s missing", m.Config)
		}
		var layers [][]byte
		for _, l := range m.Layers {
			b, ok := entries[path.Clean(l)]
			if !ok {
				return nil, badArchive("layer %s missing", l)
			}
			layers = append(layers, b)
		}
		img, err := parseImage(config, layers, m.RepoTags)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

func parseOCI(entries map[string][]byte) ([]*parsedImage, error) {
	blob := func(digest string) ([]byte, error) {
		b, ok := entries["blobs/"+strings.Replace(digest, ":", "/", 1)]
		if !ok {
			return nil, badArchive("blob %s missing", digest)
		}
		return b, nil
	}
	var out []*parsedImage
	var walk func(index []byte, depth int) error
	walk = func(index []byte, depth int) error {
		if depth > 4 {
			return badArchive("indexes nested too deep")
		}
		var idx struct{ Manifests []ociDescriptor }
		if err := json.Unmarshal(index, &idx); err != nil {
			return badArchive("index: %v", err)
		}
		for _, d := range idx.Manifests {
			b, err := blob(d.Digest)
			if err != nil {
				return err
			}
			var m struct {
				MediaType string
				Manifests []ociDescriptor
				Config    ociDescriptor
				Layers    []ociDescriptor
			}
			if err := json.Unmarshal(b, &m); err != nil {
				return badArchive("manifest %s: %v", d.Digest, err)
			}
			if m.Manifests != nil {
				if err := walk(b, depth+1); err != nil {
					return err
				}
				continue
			}
			config, err := blob(m.Config.Digest)
			if err != nil {
				return err
			}
			var layers [][]byte
			for _, l := range m.Layers {
				b, err := blob(l.Digest)
				if err != nil {
					return err
				}
				layers = append(layers, b)
			}
			var refs []string
			if name := d.Annotations["io.containerd.image.name"]; name != "" {
				refs = append(refs, name)
			} else if name := d.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(name, ":/") {
				refs = append(refs, name)
			}
			img, err := parseImage(config, layers, refs)
			if err != nil {
				return err
			}
			out = append(out, img)
		}
		return nil
	}
	if err := walk(entries["index.json"], 0); err != nil {
		return nil, err
	}
	return out, nil
}

// parseImage reads one image's config and layer tars.
func parseImage(config []byte, layers [][]byte, refs []string) (*parsedImage, error) {
	var cf imageConfigFile
	if err := json.Unmarshal(config, &cf); err != nil {
		return nil, badArchive("image config: %v", err)
	}
	sum := sha256.Sum256(config)
	img := &parsedImage{
		id: "sha256:" + hex.EncodeToString(sum[:]),
		config: imageConfig{
			Env: cf.Config.Env, Cmd: cf.Config.Cmd, WorkingDir: cf.Config.WorkingDir, Labels: cf.Config.Labels,
		},
	}
	if t, err := time.Parse(time.RFC3339Nano, cf.Created); err == nil {
		img.created = t
	}
	if len(cf.RootFS.DiffIDs) != 0 && len(cf.RootFS.DiffIDs) != len(layers) {
		return nil, badArchive("image config lists %d layers, archive has %d", len(cf.RootFS.DiffIDs), len(layers))
	}
	for i, raw := range layers {
		if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				return nil, badArchive("layer %d: %v", i, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				return nil, badArchive("layer %d: %v", i, err)
			}
		}
		sum := sha256.Sum256(raw)
		diff := "sha256:" + hex.EncodeToString(sum[:])
		if len(cf.RootFS.DiffIDs) != 0 && cf.RootFS.DiffIDs[i] != diff {
			return nil, badArchive("layer %d: digest %s, config says %s", i, diff, cf.RootFS.DiffIDs[i])
		}
		l, err := parseLayer(raw)
		if err != nil {
			return nil, badArchive("layer %d: %v", i, err)
		}
		img.layers = append(img.layers, l)
		img.raws = append(img.raws, raw)
		img.diffIDs = append(img.diffIDs, diff)
	}
	for _, ref := range refs {
		img.refs = append(img.refs, normalizeRef(ref))
	}
	return img, nil
}
