package fake

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// TestRemoveFreesLayers removes images and containers in an order that
// leaves layers shared until the end: every layer and blob but the base
// image's must go.
func TestRemoveFreesLayers(t *testing.T) {
	for name, opts := range map[string][]Option{"memory": nil, "state dir": {WithStateDir(t.TempDir())}} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rt := New(opts...)
			tarball, err := testimage.Tar(testimage.Options{Ref: "base:1", Busybox: []byte("x")})
			require.NoError(t, err)
			_, err = rt.LoadImage(ctx, bytes.NewReader(tarball))
			require.NoError(t, err)
			job := func(image, ref string, refs ...string) {
				c, err := rt.Run(ctx, runtime.ContainerSpec{Image: image, Cmd: []string{"sh", "-c", "echo " + ref + " > /f"}})
				require.NoError(t, err)
				rt.Wait(ctx, c.ID)
				for _, ref := range append([]string{ref}, refs...) {
					_, err := rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: ref})
					require.NoError(t, err, "commit %s", ref)
				}
				require.NoError(t, rt.Remove(ctx, c.ID))
			}
			job("base:1", "a:1", "b:1") // two images of one layer
			job("a:1", "c:1")           // on top of it
			for _, ref := range []string{"a:1", "c:1", "b:1"} {
				require.NoError(t, rt.RemoveImage(ctx, ref), "remove %s", ref)
			}
			var layers int
			rt.view(func(st *state) error {
				layers = len(st.Layers)
				return nil
			})
			blobs := len(rt.blobs)
			if rt.dir != "" {
				files, _ := os.ReadDir(filepath.Join(rt.dir, "blobs"))
				blobs = len(files)
			}
			assert.Equal(t, 1, layers, "layers after every removal: the base image's")
			assert.Equal(t, 1, blobs, "blobs after every removal: the base image's")
		})
	}
}
