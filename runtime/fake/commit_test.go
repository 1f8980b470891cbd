package fake_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
)

func TestCommitCapturesFiles(t *testing.T) {
	rt, ctx := newRuntime(t)
	base, err := rt.InspectImage(ctx, baseRef)
	require.NoError(t, err)
	r := sh(t, ctx, rt, baseRef, "mkdir -p /work/d && echo one > /work/d/f && rm /etc/group && rm -r /root")
	require.Equal(t, 0, r.status.ExitCode, "job: %+v", r)
	g1, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/x:g1"})
	require.NoError(t, err)
	assert.Equal(t, base.Layers+1, g1.Layers, "layers of g1")
	assert.Greater(t, g1.Size, base.Size, "size of g1 over the base's")
	assert.Equal(t, []string{"snap/x:g1"}, g1.Refs)
	r = sh(t, ctx, rt, "snap/x:g1", `cat /work/d/f; test -e /etc/group || echo group-gone; test -e /root || echo root-gone; test -f /etc/passwd && echo passwd-kept; echo two >> /work/d/f`)
	assert.Equal(t, "one\ngroup-gone\nroot-gone\npasswd-kept\n", r.stdout, "files seen from g1")
	g2, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/x:g2"})
	require.NoError(t, err)
	assert.Equal(t, g1.Layers+1, g2.Layers, "layers of g2")
	assert.Greater(t, g2.Size, g1.Size, "size of g2 over g1's")
	assert.Equal(t, "one\ntwo\n", sh(t, ctx, rt, "snap/x:g2", "cat /work/d/f").stdout, "file in g2")
	// The base image is unchanged.
	assert.Equal(t, "clean\n", sh(t, ctx, rt, baseRef, "test -e /work/d || echo clean").stdout, "base image after commits")
}

func TestCommitSquash(t *testing.T) {
	rt, ctx := newRuntime(t)
	ref := baseRef
	for i := range 3 {
		r := sh(t, ctx, rt, ref, "echo x >> /work/f; rm -f /etc/group")
		ref = "snap/s:" + string(rune('a'+i))
		_, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: ref})
		require.NoError(t, err)
	}
	layered, _ := rt.InspectImage(ctx, ref)
	require.Equal(t, 4, layered.Layers, "layers after three commits on one layer")
	r := sh(t, ctx, rt, ref, "echo y >> /work/f")
	sq, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/s:squashed", Squash: true})
	require.NoError(t, err)
	assert.Equal(t, 1, sq.Layers, "layers of the squashed image")
	assert.Less(t, sq.Size, layered.Size, "squashed size: overwritten files must not count twice")
	r = sh(t, ctx, rt, "snap/s:squashed", "cat /work/f; test -e /etc/group || echo gone; test -f /bin/busybox && echo bb")
	assert.Equal(t, "x\nx\nx\ny\ngone\nbb\n", r.stdout, "squashed file system")
}

func TestCommitConfig(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := runSpec(t, ctx, rt, runtime.ContainerSpec{
		Image: baseRef, Cmd: []string{"sh", "-c", `echo "$TOKEN" > /tmp/seen`},
		Env:       []string{"KEEP=1", "PATH=/bin"},
		SecretEnv: []string{"TOKEN=s3cr3t", "PATH_SECRET=p"},
		Labels:    map[string]string{"container-label": "x"},
	})
	img, err := rt.Commit(ctx, r.id, runtime.CommitOptions{
		Ref:     "snap/c:1",
		Labels:  map[string]string{"io.berth.generation": "1"},
		Changes: runtime.ConfigChanges{Env: []string{"ADDED=2", "KEEP=3"}, WorkingDir: "/work", Cmd: []string{"echo", "new cmd"}},
	})
	require.NoError(t, err)
	for _, kv := range img.Env {
		assert.False(t, strings.Contains(kv, "TOKEN") || strings.Contains(kv, "s3cr3t") || strings.HasPrefix(kv, "PATH_SECRET"), "committed env has secret %q", kv)
	}
	assert.Equal(t, []string{"PATH=/bin", "KEEP=3", "ADDED=2"}, img.Env, "committed env")
	assert.Equal(t, "yes", img.Labels["base"], "the image's label")
	assert.Equal(t, "1", img.Labels["io.berth.generation"], "the commit's label")
	assert.NotContains(t, img.Labels, "container-label", "a container's label is not the image's")
	r = runSpec(t, ctx, rt, runtime.ContainerSpec{Image: "snap/c:1"})
	assert.Equal(t, "new cmd\n", r.stdout, "committed Cmd ran")
	r = sh(t, ctx, rt, "snap/c:1", "pwd; cat /tmp/seen; echo \"[$TOKEN]\"")
	assert.Equal(t, "/work\ns3cr3t\n[]\n", r.stdout, "committed WorkingDir, files, env")
}

func TestCommitErrors(t *testing.T) {
	rt, ctx := newRuntime(t)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sleep", "30"}})
	require.NoError(t, err)
	_, err = rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "snap/e:1"})
	assert.ErrorIs(t, err, runtime.ErrFailedPrecondition, "commit of a running container")
	rt.Remove(ctx, c.ID)
	r := sh(t, ctx, rt, baseRef, "true")
	for _, tc := range []struct {
		id   string
		opts runtime.CommitOptions
		want error
	}{
		{"nope", runtime.CommitOptions{Ref: "snap/e:1"}, runtime.ErrNotFound},
		{r.id, runtime.CommitOptions{}, runtime.ErrInvalidArgument},
		{r.id, runtime.CommitOptions{Ref: "UPPER/case:1"}, runtime.ErrInvalidArgument},
		{r.id, runtime.CommitOptions{Ref: "snap/e:1", Changes: runtime.ConfigChanges{Env: []string{"bad"}}}, runtime.ErrInvalidArgument},
		{r.id, runtime.CommitOptions{Ref: baseRef}, runtime.ErrAlreadyExists},
	} {
		_, err := rt.Commit(ctx, tc.id, tc.opts)
		assert.ErrorIs(t, err, tc.want, "Commit(%s, %+v)", tc.id, tc.opts)
	}
	imgs, _ := rt.ListImages(ctx, nil)
	assert.Len(t, imgs, 1, "images after refused commits")
}

func TestRemoveImage(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := sh(t, ctx, rt, baseRef, "echo x > /f")
	img, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/r"})
	require.NoError(t, err)
	assert.Equal(t, []string{"snap/r:latest"}, img.Refs, "a ref without tag means :latest")
	r2 := sh(t, ctx, rt, "snap/r", "true")
	// A second reference, through a commit of the same content is a new
	// image; through load it is the same one.
	loadBase(t, ctx, rt, testimageOptions("other/ref:1"))
	base, _ := rt.InspectImage(ctx, baseRef)
	require.Len(t, base.Refs, 2, "base refs")
	// Removing one of two refs works even while containers use the image.
	assert.NoError(t, rt.RemoveImage(ctx, "other/ref:1"), "RemoveImage of one of two refs")
	assert.ErrorIs(t, rt.RemoveImage(ctx, "snap/r:latest"), runtime.ErrConflict, "RemoveImage of an image a container uses")
	assert.ErrorIs(t, rt.RemoveImage(ctx, img.ID), runtime.ErrConflict, "RemoveImage by ID of an image a container uses")
	require.NoError(t, rt.Remove(ctx, r2.id))
	assert.NoError(t, rt.RemoveImage(ctx, img.ID), "RemoveImage by ID")
	for _, ref := range []string{"snap/r", img.ID} {
		_, err := rt.InspectImage(ctx, ref)
		assert.ErrorIs(t, err, runtime.ErrNotFound, "InspectImage(%s) after removal", ref)
		assert.ErrorIs(t, rt.RemoveImage(ctx, ref), runtime.ErrNotFound, "RemoveImage(%s) again", ref)
	}
	// The committed container still exists and keeps the base in use.
	assert.ErrorIs(t, rt.RemoveImage(ctx, baseRef), runtime.ErrConflict, "RemoveImage of the base with containers")
}

// BenchmarkListImages lists 1,000 images of one reference each: a listing
// costs one pass over the references, not one per image.
func BenchmarkListImages(b *testing.B) {
	rt, ctx := newRuntime(b)
	r := sh(b, ctx, rt, baseRef, "echo x > /work/f")
	for i := range 1000 {
		opts := runtime.CommitOptions{Ref: fmt.Sprintf("bench/img:%d", i), Labels: map[string]string{"n": fmt.Sprint(i)}}
		_, err := rt.Commit(ctx, r.id, opts)
		require.NoError(b, err)
	}
	b.ResetTimer()
	for range b.N {
		imgs, err := rt.ListImages(ctx, nil)
		require.NoError(b, err)
		require.GreaterOrEqual(b, len(imgs), 1000, "images listed")
	}
}
