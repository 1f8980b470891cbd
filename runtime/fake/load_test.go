package fake_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

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
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipped(t *testing.T, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
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
	if len(imgs) != 1 || len(imgs[0].Refs) != 1 || imgs[0].Refs[0] != ref || imgs[0].Layers != 2 ||
		imgs[0].Labels["l"] != "v" || imgs[0].Env[1] != "A=1" {
		t.Fatalf("loaded %+v", imgs)
	}
	r := sh(t, ctx, rt, ref, "cat /etc/keep /data/new /work/made; test -e /etc/old || echo old-gone; test -e /data/a || test -e /data/sub || echo opaque; ls /data; /bin/echo linked")
	if want := "keepnewmadeold-gone\nopaque\nnew\nlinked\n"; r.stdout != want || r.status.ExitCode != 0 {
		t.Errorf("files of the loaded image: %q (stderr %q), want %q", r.stdout, r.stderr, want)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if imgs[0].ID != digest(config) {
		t.Errorf("image ID %s, want the config digest %s", imgs[0].ID, digest(config))
	}
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
	if err != nil {
		t.Fatal(err)
	}
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
	if _, err := rt.LoadImage(ctx, bytes.NewReader(archive)); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Fatalf("load of a layer with the wrong digest: %v", err)
	}
	if _, err := rt.InspectImage(ctx, "test/bad:1"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("a failed load left a reference: %v", err)
	}
}

func TestLoadCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tarball := testLayers(t)[0]
	_, err := fake.New().LoadImage(ctx, bytes.NewReader(tarball))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("LoadImage with a cancelled ctx: %v", err)
	}
}
