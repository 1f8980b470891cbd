package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/archive"
)

// makeTar returns a tar of regular files, in the order given (name, body,
// name, body, ...).
func makeTar(t testing.TB, files ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for i := 0; i+1 < len(files); i += 2 {
		require.NoError(t, w.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(files[i+1]))}))
		_, err := w.Write([]byte(files[i+1]))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return b.Bytes()
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func gzipped(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out.Bytes()
}

func testImage(t testing.TB) archive.Image {
	img := archive.Image{Refs: []string{"test/a:1"}, Layers: [][]byte{makeTar(t, "etc/a", "a"), makeTar(t, "etc/b", "b")}}
	img.Config.Created = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	img.Config.Config.Env = []string{"A=1"}
	img.Config.Config.Cmd = []string{"sh"}
	img.Config.Config.Labels = map[string]string{"l": "v"}
	return img
}

func TestWriteRead(t *testing.T) {
	img := testImage(t)
	other := archive.Image{Refs: []string{"test/b:1", "test/b:2"}, Layers: img.Layers[:1]}
	var b bytes.Buffer
	require.NoError(t, archive.Write(&b, []archive.Image{img, other}))
	got, err := archive.Read(context.Background(), &b)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, archive.Digest(got[0].RawConfig), got[0].ID, "an image's ID is its config's digest")
	assert.Equal(t, img.Refs, got[0].Refs)
	assert.Equal(t, img.Layers, got[0].Layers)
	assert.Equal(t, img.Config.Config, got[0].Config.Config)
	assert.True(t, img.Config.Created.Equal(got[0].Config.Created), "created %v, want %v", got[0].Config.Created, img.Config.Created)
	assert.Equal(t, []string{archive.Digest(img.Layers[0]), archive.Digest(img.Layers[1])}, got[0].Config.RootFS.DiffIDs)
	assert.Equal(t, other.Refs, got[1].Refs)
	assert.Equal(t, other.Layers, got[1].Layers)

	// RawConfig is written as it is: the image keeps its ID.
	var again bytes.Buffer
	require.NoError(t, archive.Write(&again, got[:1]))
	round, err := archive.Read(context.Background(), &again)
	require.NoError(t, err)
	require.Len(t, round, 1)
	assert.Equal(t, got[0].ID, round[0].ID)
}

func TestReadOCILayout(t *testing.T) {
	img := testImage(t)
	var b bytes.Buffer
	require.NoError(t, archive.Write(&b, []archive.Image{img}))
	saved, err := archive.Read(context.Background(), &b)
	require.NoError(t, err)
	config := saved[0].RawConfig
	l1 := gzipped(t, img.Layers[1])
	blob := func(b []byte) (string, string) { return "blobs/sha256/" + archive.Digest(b)[7:], string(b) }
	manifest := []byte(mustJSON(t, map[string]any{
		"schemaVersion": 2,
		"config":        map[string]any{"digest": archive.Digest(config)},
		"layers":        []map[string]any{{"digest": archive.Digest(img.Layers[0])}, {"digest": archive.Digest(l1)}},
	}))
	inner := []byte(mustJSON(t, map[string]any{"manifests": []map[string]any{{
		"digest": archive.Digest(manifest), "annotations": map[string]string{"org.opencontainers.image.ref.name": "test/oci:v1"},
	}}}))
	index := mustJSON(t, map[string]any{"manifests": []map[string]any{
		{"digest": archive.Digest(manifest), "annotations": map[string]string{"io.containerd.image.name": "test/oci:v2", "org.opencontainers.image.ref.name": "v2"}},
		{"digest": archive.Digest(inner)},
	}})
	files := []string{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`, "index.json", index}
	for _, x := range [][]byte{manifest, inner, config, img.Layers[0], l1} {
		n, body := blob(x)
		files = append(files, n, body)
	}
	got, err := archive.Read(context.Background(), bytes.NewReader(makeTar(t, files...)))
	require.NoError(t, err)
	require.Len(t, got, 2, "the image of the index and that of the nested index")
	assert.Equal(t, []string{"test/oci:v2"}, got[0].Refs)
	assert.Equal(t, []string{"test/oci:v1"}, got[1].Refs)
	for _, g := range got {
		assert.Equal(t, saved[0].ID, g.ID)
		assert.Equal(t, img.Layers, g.Layers, "layers, the gzipped one uncompressed")
	}
}

func TestReadMalformed(t *testing.T) {
	layer := makeTar(t, "a", "a")
	config := mustJSON(t, map[string]any{"rootfs": map[string]any{"diff_ids": []string{archive.Digest(layer)}}})
	save := func(manifest string, files ...string) []byte {
		return makeTar(t, append([]string{"manifest.json", manifest}, files...)...)
	}
	one := mustJSON(t, []map[string]any{{"Config": "c.json", "Layers": []string{"l.tar"}}})
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a tar", []byte("not a tar at all, certainly not one")},
		{"no manifest", makeTar(t, "x", "y")},
		{"manifest not JSON", save("{")},
		{"config missing", save(one, "l.tar", string(layer))},
		{"config not JSON", save(one, "c.json", "[", "l.tar", string(layer))},
		{"layer missing", save(one, "c.json", config)},
		{"layer digest", save(one, "c.json", config, "l.tar", string(makeTar(t, "b", "b")))},
		{"layer count", save(mustJSON(t, []map[string]any{{"Config": "c.json", "Layers": []string{"l.tar", "l.tar"}}}), "c.json", config, "l.tar", string(layer))},
		{"bad gzip", save(one, "c.json", "{}", "l.tar", "\x1f\x8b\x08garbage")},
		{"index not JSON", makeTar(t, "index.json", "nope")},
		{"index blob missing", makeTar(t, "index.json", `{"manifests":[{"digest":"sha256:00"}]}`)},
		{"index loop", makeTar(t, "index.json", `{"manifests":[{"digest":"sha256:00"}]}`, "blobs/sha256/00", `{"manifests":[{"digest":"sha256:00"}]}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := archive.Read(context.Background(), bytes.NewReader(tc.in))
			assert.ErrorIs(t, err, runtime.ErrInvalidArgument)
		})
	}
}

func TestReadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := archive.Read(ctx, bytes.NewReader(makeTar(t, "manifest.json", "[]")))
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, runtime.ErrInvalidArgument)
}

func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	require.NoError(f, archive.Write(&b, []archive.Image{testImage(f)}))
	f.Add(b.Bytes())
	f.Add(makeTar(f, "index.json", `{"manifests":[{"digest":"sha256:00"}]}`, "blobs/sha256/00", `{"config":{"digest":"sha256:00"}}`))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		imgs, err := archive.Read(context.Background(), bytes.NewReader(in))
		if err != nil {
			assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "malformed input gives ErrInvalidArgument")
			return
		}
		for _, img := range imgs {
			assert.Equal(t, archive.Digest(img.RawConfig), img.ID)
			assert.Len(t, img.Config.RootFS.DiffIDs, len(img.Layers))
		}
	})
}

// entries returns the files of a tar.
func entries(t *testing.T, b []byte) map[string]string {
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = string(body)
	}
}

func TestRetag(t *testing.T) {
	var src bytes.Buffer
	require.NoError(t, archive.Write(&src, []archive.Image{testImage(t)}))
	withRepos := append(bytes.TrimSuffix(src.Bytes(), make([]byte, 1024)), makeTar(t, "repositories", "{}")...)
	var out bytes.Buffer
	require.NoError(t, archive.Retag(bytes.NewReader(withRepos), &out, "example/base:latest"))
	assert.NotContains(t, entries(t, out.Bytes()), "repositories")
	imgs, err := archive.Read(context.Background(), &out)
	require.NoError(t, err)
	require.Len(t, imgs, 1)
	assert.Equal(t, []string{"example/base:latest"}, imgs[0].Refs)

	index := makeTar(t, "index.json", `{"manifests":[{"digest":"sha256:00","annotations":{"x":"y"}}]}`)
	out.Reset()
	require.NoError(t, archive.Retag(bytes.NewReader(index), &out, "a/b:c"))
	var idx struct{ Manifests []descriptor }
	require.NoError(t, json.Unmarshal([]byte(entries(t, out.Bytes())["index.json"]), &idx))
	require.Len(t, idx.Manifests, 1)
	assert.Equal(t, map[string]string{"x": "y", "io.containerd.image.name": "a/b:c", "org.opencontainers.image.ref.name": "a/b:c"}, idx.Manifests[0].Annotations)
}

type descriptor struct {
	Digest      string
	Annotations map[string]string
}

func TestRetagMalformed(t *testing.T) {
	var two bytes.Buffer
	require.NoError(t, archive.Write(&two, []archive.Image{testImage(t), testImage(t)}))
	for name, in := range map[string][]byte{
		"not a tar":          []byte("not a tar file at all, certainly not"),
		"two images":         two.Bytes(),
		"manifest not JSON":  makeTar(t, "manifest.json", "{"),
		"index not JSON":     makeTar(t, "index.json", "{"),
		"index of none":      makeTar(t, "index.json", `{"manifests":[]}`),
		"index entry string": makeTar(t, "index.json", `{"manifests":["x"]}`),
	} {
		err := archive.Retag(bytes.NewReader(in), io.Discard, "x:y")
		assert.ErrorIs(t, err, runtime.ErrInvalidArgument, name)
	}
}

func TestReadLayer(t *testing.T) {
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/a", Typeflag: tar.TypeReg, Mode: 0o600, Size: 1},
		{Name: "etc/l", Typeflag: tar.TypeSymlink, Linkname: "a", Mode: 0o777},
		{Name: "etc/h", Typeflag: tar.TypeLink, Linkname: "etc/a"},
		{Name: "etc/.wh.old", Typeflag: tar.TypeReg},
		{Name: "data/.wh..wh..opq", Typeflag: tar.TypeReg},
		{Name: "dev/null", Typeflag: tar.TypeChar},
	} {
		require.NoError(t, w.WriteHeader(h))
		if h.Size > 0 {
			_, err := w.Write([]byte("x"))
			require.NoError(t, err)
		}
	}
	require.NoError(t, w.Close())
	l, err := archive.ReadLayer(b.Bytes())
	require.NoError(t, err)
	assert.Equal(t, archive.Layer{
		Entries: []archive.Entry{
			{Path: "/etc", Mode: fs.ModeDir | 0o755},
			{Path: "/etc/a", Mode: 0o600, Data: []byte("x")},
			{Path: "/etc/l", Mode: fs.ModeSymlink | 0o777, Link: "a"},
			{Path: "/etc/h", Link: "/etc/a", Hardlink: true},
		},
		Whiteouts: []string{"/etc/old"},
		Opaque:    []string{"/data"},
	}, l)

	_, err = archive.ReadLayer([]byte("not a layer tar, not at all, no"))
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument)
}

func TestWriteConfig(t *testing.T) {
	config := []byte(`{"rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},"config":{"Env":["A=1"]}}`)
	var buf bytes.Buffer
	id, err := archive.WriteConfig(&buf, config, "snap:1")
	require.NoError(t, err)
	assert.Equal(t, archive.Digest(config), id, "the image ID is the config's digest")

	files := map[string][]byte{}
	for tr := tar.NewReader(&buf); ; {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = body
	}
	configName := id[len("sha256:"):] + ".json"
	assert.Equal(t, map[string][]byte{configName: config, "manifest.json": files["manifest.json"]}, files,
		"the archive holds the config and the manifest, no layer file")
	var manifest []struct {
		Config           string
		RepoTags, Layers []string
	}
	require.NoError(t, json.Unmarshal(files["manifest.json"], &manifest))
	assert.Equal(t, []struct {
		Config           string
		RepoTags, Layers []string
	}{{configName, []string{"snap:1"}, []string{"aa/layer.tar", "bb/layer.tar"}}}, manifest)

	_, err = archive.WriteConfig(io.Discard, []byte("{"), "snap:1")
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "a config that is not JSON")
}
