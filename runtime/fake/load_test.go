package fake_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

// entry is a tar entry: a file, a directory (name ends with /) or a
// symbolic link (link set).
type entry struct {
	name, body, link string
}

func makeTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.name[len(e.name)-1] == '/':
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		require.NoError(t, w.WriteHeader(h))
		_, err := w.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return b.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	require.NoError(t, w.Close())
	return out.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// layers are a base, then a layer deleting /etc/old and emptying /data
// (opaque), in docker's whiteout format.
func testLayers(t *testing.T) [][]byte {
	base := makeTar(t,
		entry{name: "bin/"}, entry{name: "bin/sh", body: "sh"}, entry{name: "bin/echo", link: "sh"},
		entry{name: "etc/"}, entry{name: "etc/old", body: "old"}, entry{name: "etc/keep", body: "keep"},
		entry{name: "data/"}, entry{name: "data/a", body: "a"}, entry{name: "data/sub/b", body: "b"},
		entry{name: "tmp/"},
	)
	top := makeTar(t,
		entry{name: "etc/.wh.old"}, entry{name: "data/.wh..wh..opq"}, entry{name: "data/new", body: "new"},
		entry{name: "./work/made", body: "made"},
	)
	return [][]byte{base, top}
}

func configFor(t *testing.T, layers [][]byte) []byte {
	var diffs []string
	for _, l := range layers {
		diffs = append(diffs, digest(l))
	}
	return mustJSON(t, map[string]any{
		"created": "2026-01-01T00:00:00Z",
		"config":  map[string]any{"Env": []string{"PATH=/bin", "A=1"}, "Cmd": []string{"sh"}, "Labels": map[string]string{"l": "v"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffs},
	})
}

// checkLoaded checks the image loaded from testLayers.
func checkLoaded(t *testing.T, ctx context.Context, rt runtime.Runtime, imgs []runtime.Image, ref string) {
	t.Helper()
	require.Len(t, imgs, 1, "images loaded")
	require.Equal(t, []string{ref}, imgs[0].Refs)
	require.Equal(t, 2, imgs[0].Layers, "layers")
	require.Equal(t, "v", imgs[0].Labels["l"], "label l")
	require.Equal(t, []string{"PATH=/bin", "A=1"}, imgs[0].Env)
	r := sh(t, ctx, rt, ref, "cat /etc/keep /data/new /work/made; test -e /etc/old || echo old-gone; test -e /data/a || test -e /data/sub || echo opaque; ls /data; /bin/echo linked")
	assert.Equal(t, "keepnewmadeold-gone\nopaque\nnew\nlinked\n", r.stdout, "files of the loaded image (stderr %q)", r.stderr)
	assert.Equal(t, 0, r.status.ExitCode, "status of the job reading the loaded image's files")
}

func TestLoadDockerSaveLayers(t *testing.T) {
	layers := testLayers(t)
	config := configFor(t, layers)
	archive := makeTar(t,
		entry{name: "manifest.json", body: string(mustJSON(t, []map[string]any{{
			"Config": "config.json", "RepoTags": []string{"test/layers"},
			"Layers": []string{"l0/layer.tar", "l1/layer.tar"},
		}}))},
		entry{name: "config.json", body: string(config)},
		entry{name: "l0/layer.tar", body: string(layers[0])},
		entry{name: "l1/layer.tar", body: string(gzipped(t, layers[1]))},
	)
	rt := fake.New()
	ctx := context.Background()
	imgs, err := rt.LoadImage(ctx, bytes.NewReader(archive))
	require.NoError(t, err)
	assert.Equal(t, digest(config), imgs[0].ID, "an image's ID is its config's digest")
	checkLoaded(t, ctx, rt, imgs, "test/layers:latest")
}

func TestLoadOCILayout(t *testing.T) {
	layers := testLayers(t)
	config := configFor(t, layers)
	l1 := gzipped(t, layers[1])
	manifest := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config)},
		"layers": []map[string]any{
			{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layers[0])},
			{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(l1)},
		},
	})
	blob := func(b []byte) entry { return entry{name: "blobs/sha256/" + digest(b)[7:], body: string(b)} }
	index := mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"manifests": []map[string]any{{
			"mediaType":   "application/vnd.oci.image.manifest.v1+json",
			"digest":      digest(manifest),
			"annotations": map[string]string{"io.containerd.image.name": "test/oci:v1", "org.opencontainers.image.ref.name": "v1"},
		}},
	})
	archive := makeTar(t,
		entry{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`},
		entry{name: "index.json", body: string(index)},
		blob(manifest), blob(config), blob(layers[0]), blob(l1),
	)
	rt := fake.New()
	ctx := context.Background()
	imgs, err := rt.LoadImage(ctx, bytes.NewReader(archive))
	require.NoError(t, err)
	checkLoaded(t, ctx, rt, imgs, "test/oci:v1")
}

func TestLoadCorruptLayer(t *testing.T) {
	layers := testLayers(t)
	config := configFor(t, layers)
	archive := makeTar(t,
		entry{name: "manifest.json", body: string(mustJSON(t, []map[string]any{{
			"Config": "config.json", "RepoTags": []string{"test/bad:1"}, "Layers": []string{"l0.tar", "l1.tar"},
		}}))},
		entry{name: "config.json", body: string(config)},
		entry{name: "l0.tar", body: string(layers[0])},
		entry{name: "l1.tar", body: string(layers[0])}, // not the digest the config lists
	)
	rt := fake.New()
	ctx := context.Background()
	_, err := rt.LoadImage(ctx, bytes.NewReader(archive))
	require.ErrorIs(t, err, runtime.ErrInvalidArgument, "load of a layer with the wrong digest")
	_, err = rt.InspectImage(ctx, "test/bad:1")
	assert.ErrorIs(t, err, runtime.ErrNotFound, "reference after a failed load")
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tarball := testLayers(t)[0]
	_, err := fake.New().LoadImage(ctx, bytes.NewReader(tarball))
	assert.ErrorIs(t, err, context.Canceled, "LoadImage with a cancelled ctx")
}
