package containerd

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// registry is a read-only registry serving one image (from a docker-save
// tar) under any repository name and the tag "1".
type registry struct {
	manifest []byte
	blobs    map[digest.Digest][]byte
}

// newRegistry turns a docker-save tar of one image into a registry.
func newRegistry(t *testing.T, tarball []byte) *registry {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = b
	}
	var save []struct{ Config string }
	var layers []string
	require.NoError(t, json.Unmarshal(files["manifest.json"], &save), "manifest.json")
	require.Len(t, save, 1, "images in manifest.json")
	var raw []map[string]any
	_ = json.Unmarshal(files["manifest.json"], &raw)
	for _, l := range raw[0]["Layers"].([]any) {
		layers = append(layers, l.(string))
	}
	r := &registry{blobs: map[digest.Digest][]byte{}}
	desc := func(mt string, b []byte) map[string]any {
		d := digest.FromBytes(b)
		r.blobs[d] = b
		return map[string]any{"mediaType": mt, "digest": d, "size": len(b)}
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     images.MediaTypeDockerSchema2Manifest,
		"config":        desc(images.MediaTypeDockerSchema2Config, files[save[0].Config]),
	}
	var ls []any
	for _, l := range layers {
		ls = append(ls, desc(images.MediaTypeDockerSchema2Layer, files[l]))
	}
	m["layers"] = ls
	var err error
	r.manifest, err = json.Marshal(m)
	require.NoError(t, err)
	return r
}

func (r *registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		w.WriteHeader(http.StatusOK)
	case strings.Contains(p, "/manifests/"):
		ref := p[strings.LastIndex(p, "/")+1:]
		d := digest.FromBytes(r.manifest)
		if ref != "1" && ref != d.String() {
			http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", images.MediaTypeDockerSchema2Manifest)
		w.Header().Set("Docker-Content-Digest", d.String())
		w.Header().Set("Content-Length", fmt.Sprint(len(r.manifest)))
		if req.Method != http.MethodHead {
			_, _ = w.Write(r.manifest)
		}
	case strings.Contains(p, "/blobs/"):
		b, ok := r.blobs[digest.Digest(p[strings.LastIndex(p, "/")+1:])]
		if !ok {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN"}]}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if req.Method != http.MethodHead {
			_, _ = w.Write(b)
		}
	default:
		http.NotFound(w, req)
	}
}

// TestPull pulls an image from a registry on loopback, runs it, and checks
// that a missing tag is ErrNotFound.
func TestPull(t *testing.T) {
	d := newDriver(t)
	tarball, err := testimage.Tar(testimage.Options{Files: map[string][]byte{"/work/pulled": []byte("pulled\n")}})
	require.NoError(t, err)
	srv := httptest.NewServer(newRegistry(t, tarball))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	ref := host + "/berth-test/pulled-" + randomHex(4) + ":1"
	img, err := d.PullImage(ctx, ref)
	require.NoError(t, err, "PullImage(%s)", ref)
	t.Cleanup(func() { removeImage(t, d, ref) })
	assert.False(t, img.ID == "" || img.Layers != 1 || len(img.Refs) != 1 || img.Refs[0] != ref, "PullImage = %+v; want one layer and ref %s", img, ref)
	c := runDone(t, d, runtime.ContainerSpec{Image: ref, Cmd: []string{"cat", "/work/pulled"}})
	var out bytes.Buffer
	require.NoError(t, d.Logs(ctx, c.ID, runtime.LogOptions{Follow: true}, &out, nil))
	assert.Equal(t, "pulled\n", out.String(), "pulled image sees %q", out.String())
	assert.ErrorIs(t, second(d.PullImage(ctx, host+"/berth-test/absent:2")), runtime.ErrNotFound, "PullImage of a missing tag")
}
