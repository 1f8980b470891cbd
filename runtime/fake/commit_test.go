package fake_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
)

func TestCommitCapturesFiles(t *testing.T) {
	rt, ctx := newRuntime(t)
	base, err := rt.InspectImage(ctx, baseRef)
	if err != nil {
		t.Fatal(err)
	}
	r := sh(t, ctx, rt, baseRef, "mkdir -p /work/d && echo one > /work/d/f && rm /etc/group && rm -r /root")
	if r.status.ExitCode != 0 {
		t.Fatalf("job: %+v", r)
	}
	g1, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/x:g1"})
	if err != nil {
		t.Fatal(err)
	}
	if g1.Layers != base.Layers+1 || g1.Size <= base.Size || !slices.Equal(g1.Refs, []string{"snap/x:g1"}) {
		t.Errorf("g1 = %+v; base had %d layers, %d bytes", g1, base.Layers, base.Size)
	}
	r = sh(t, ctx, rt, "snap/x:g1", `cat /work/d/f; test -e /etc/group || echo group-gone; test -e /root || echo root-gone; test -f /etc/passwd && echo passwd-kept; echo two >> /work/d/f`)
	if r.stdout != "one\ngroup-gone\nroot-gone\npasswd-kept\n" {
		t.Errorf("files seen from g1: %q", r.stdout)
	}
	g2, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/x:g2"})
	if err != nil {
		t.Fatal(err)
	}
	if g2.Layers != g1.Layers+1 || g2.Size <= g1.Size {
		t.Errorf("g2 = %+v, after g1 %+v", g2, g1)
	}
	if r := sh(t, ctx, rt, "snap/x:g2", "cat /work/d/f"); r.stdout != "one\ntwo\n" {
		t.Errorf("file in g2: %q", r.stdout)
	}
	// The base image is unchanged.
	if r := sh(t, ctx, rt, baseRef, "test -e /work/d || echo clean"); r.stdout != "clean\n" {
		t.Errorf("base image after commits: %q", r.stdout)
	}
}

func TestCommitSquash(t *testing.T) {
	rt, ctx := newRuntime(t)
	ref := baseRef
	for i := range 3 {
		r := sh(t, ctx, rt, ref, "echo x >> /work/f; rm -f /etc/group")
		ref = "snap/s:" + string(rune('a'+i))
		if _, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: ref}); err != nil {
			t.Fatal(err)
		}
	}
	layered, _ := rt.InspectImage(ctx, ref)
	if layered.Layers != 4 {
		t.Fatalf("three commits on one layer: %d layers", layered.Layers)
	}
	r := sh(t, ctx, rt, ref, "echo y >> /work/f")
	sq, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/s:squashed", Squash: true})
	if err != nil {
		t.Fatal(err)
	}
	if sq.Layers != 1 {
		t.Errorf("squashed image has %d layers, want 1", sq.Layers)
	}
	if sq.Size >= layered.Size {
		t.Errorf("squashed size %d, layered %d: overwritten files must not count twice", sq.Size, layered.Size)
	}
	r = sh(t, ctx, rt, "snap/s:squashed", "cat /work/f; test -e /etc/group || echo gone; test -f /bin/busybox && echo bb")
	if r.stdout != "x\nx\nx\ny\ngone\nbb\n" {
		t.Errorf("squashed file system: %q", r.stdout)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range img.Env {
		if strings.Contains(kv, "TOKEN") || strings.Contains(kv, "s3cr3t") || strings.HasPrefix(kv, "PATH_SECRET") {
			t.Errorf("committed env has secret %q", kv)
		}
	}
	if !slices.Equal(img.Env, []string{"PATH=/bin", "KEEP=3", "ADDED=2"}) {
		t.Errorf("committed env %q", img.Env)
	}
	if img.Labels["base"] != "yes" || img.Labels["io.berth.generation"] != "1" || img.Labels["container-label"] != "" {
		t.Errorf("committed labels %v: want the image's plus the commit's", img.Labels)
	}
	r = runSpec(t, ctx, rt, runtime.ContainerSpec{Image: "snap/c:1"})
	if r.stdout != "new cmd\n" {
		t.Errorf("committed Cmd ran: %q", r.stdout)
	}
	if r = sh(t, ctx, rt, "snap/c:1", "pwd; cat /tmp/seen; echo \"[$TOKEN]\""); r.stdout != "/work\ns3cr3t\n[]\n" {
		t.Errorf("committed WorkingDir, files, env: %q", r.stdout)
	}
}

func TestCommitErrors(t *testing.T) {
	rt, ctx := newRuntime(t)
	c, err := rt.Run(ctx, runtime.ContainerSpec{Image: baseRef, Cmd: []string{"sleep", "30"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "snap/e:1"}); !errors.Is(err, runtime.ErrFailedPrecondition) {
		t.Errorf("commit of a running container: %v", err)
	}
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
		if _, err := rt.Commit(ctx, tc.id, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("Commit(%s, %+v): %v, want %v", tc.id, tc.opts, err, tc.want)
		}
	}
	if imgs, _ := rt.ListImages(ctx, nil); len(imgs) != 1 {
		t.Errorf("refused commits left images: %d", len(imgs))
	}
}

func TestRemoveImage(t *testing.T) {
	rt, ctx := newRuntime(t)
	r := sh(t, ctx, rt, baseRef, "echo x > /f")
	img, err := rt.Commit(ctx, r.id, runtime.CommitOptions{Ref: "snap/r"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Refs, []string{"snap/r:latest"}) {
		t.Errorf("refs %v: a ref without tag means :latest", img.Refs)
	}
	r2 := sh(t, ctx, rt, "snap/r", "true")
	// A second reference, through a commit of the same content is a new
	// image; through load it is the same one.
	loadBase(t, ctx, rt, testimageOptions("other/ref:1"))
	base, _ := rt.InspectImage(ctx, baseRef)
	if len(base.Refs) != 2 {
		t.Fatalf("base refs %v, want two", base.Refs)
	}
	// Removing one of two refs works even while containers use the image.
	if err := rt.RemoveImage(ctx, "other/ref:1"); err != nil {
		t.Errorf("RemoveImage of one of two refs: %v", err)
	}
	if err := rt.RemoveImage(ctx, "snap/r:latest"); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveImage of an image a container uses: %v", err)
	}
	if err := rt.RemoveImage(ctx, img.ID); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveImage by ID of an image a container uses: %v", err)
	}
	if err := rt.Remove(ctx, r2.id); err != nil {
		t.Fatal(err)
	}
	if err := rt.RemoveImage(ctx, img.ID); err != nil {
		t.Errorf("RemoveImage by ID: %v", err)
	}
	for _, ref := range []string{"snap/r", img.ID} {
		if _, err := rt.InspectImage(ctx, ref); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("InspectImage(%s) after removal: %v", ref, err)
		}
		if err := rt.RemoveImage(ctx, ref); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("RemoveImage(%s) again: %v", ref, err)
		}
	}
	// The committed container still exists and keeps the base in use.
	if err := rt.RemoveImage(ctx, baseRef); !errors.Is(err, runtime.ErrConflict) {
		t.Errorf("RemoveImage of the base with containers: %v", err)
	}
}

// BenchmarkListImages lists 1,000 images of one reference each: a listing
// costs one pass over the references, not one per image.
func BenchmarkListImages(b *testing.B) {
	rt, ctx := newRuntime(b)
	r := sh(b, ctx, rt, baseRef, "echo x > /work/f")
	for i := range 1000 {
		opts := runtime.CommitOptions{Ref: fmt.Sprintf("bench/img:%d", i), Labels: map[string]string{"n": fmt.Sprint(i)}}
		if _, err := rt.Commit(ctx, r.id, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		imgs, err := rt.ListImages(ctx, nil)
		if err != nil || len(imgs) < 1000 {
			b.Fatalf("ListImages: %d images, %v", len(imgs), err)
		}
	}
}
