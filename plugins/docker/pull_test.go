package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// TestPullImage pulls the test image from a minimal registry (the read side
// of the distribution API, serving one image) on loopback, which the daemon
// treats as an insecure registry.
func TestPullImage(t *testing.T) {
	d := newDriver(t)
	ctx := context.Background()
	addr := serveRegistry(t, "berth-dockertest/pull", "v1")

	ref := addr + "/berth-dockertest/pull:v1"
	img, err := d.PullImage(ctx, ref)
	require.NoError(t, err)
	t.Cleanup(func() { d.RemoveImage(context.Background(), ref) })
	require.False(t, !slices.Contains(img.Refs, ref) || img.Layers != 1 || img.Labels[testLabel] != testValue, "pulled image: %+v", img)
	require.Equal(t, "pulled\n", output(t, d, ref, "echo pulled"), "what a container of the pulled image printed")

	// Docker 20.10 answers a missing manifest with a 500 of no class, so
	// only the failure, and that nothing is left, can be checked.
	missing := addr + "/berth-dockertest/pull:missing"
	require.Error(t, second(d.PullImage(ctx, missing)), "pull of a missing tag")
	require.ErrorIs(t, second(d.InspectImage(ctx, missing)), runtime.ErrNotFound, "inspect after a failed pull")
	require.ErrorIs(t, second(d.PullImage(ctx, "Not A Ref")), runtime.ErrInvalidArgument, "pull of a malformed reference")
}

// serveRegistry serves the test image as repo:tag and returns host:port.
func serveRegistry(t *testing.T, repo, tag string) string {
	t.Helper()
	save, err := testimage.Tar(testimage.Options{Ref: "x/y:z", Labels: map[string]string{testLabel: testValue}})
	require.NoError(t, err)
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(save))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		files[h.Name], _ = io.ReadAll(tr)
	}
	var saved []struct {
		Config string
		Layers []string
	}
	require.NoError(t, json.Unmarshal(files["manifest.json"], &saved))
	blobs := map[string][]byte{}
	add := func(b []byte) map[string]any {
		sum := sha256.Sum256(b)
		dgst := "sha256:" + hex.EncodeToString(sum[:])
		blobs[dgst] = b
		return map[string]any{"size": len(b), "digest": dgst}
	}
	config := add(files[saved[0].Config])
	config["mediaType"] = "application/vnd.docker.container.image.v1+json"
	layer := add(files[saved[0].Layers[0]]) // an uncompressed tar: the engine detects it
	layer["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.v2+json",
		"config":        config,
		"layers":        []any{layer},
	})

	sum := sha256.Sum256(manifest)
	byDigest := "sha256:" + hex.EncodeToString(sum[:])
	isManifest := func(rest string) bool {
		return rest == repo+"/manifests/"+tag || rest == repo+"/manifests/"+byDigest
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/", func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/v2/")
		switch {
		case rest == "":
			w.WriteHeader(http.StatusOK)
		case isManifest(rest):
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			w.Header().Set("Docker-Content-Digest", byDigest)
			w.Write(manifest)
		case strings.HasPrefix(rest, repo+"/blobs/") && blobs[strings.TrimPrefix(rest, repo+"/blobs/")] != nil:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(blobs[strings.TrimPrefix(rest, repo+"/blobs/")])
		case strings.Contains(rest, "/manifests/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
		default:
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("HEAD /v2/", func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/v2/")
		if isManifest(rest) {
			w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
			w.Header().Set("Docker-Content-Digest", byDigest)
			w.Header().Set("Content-Length", fmt.Sprint(len(manifest)))
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
