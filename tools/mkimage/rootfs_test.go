package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berth-dev/berth/runtime/archive"
)

// rootfsTar is a small root file system tar as mmdebstrap writes one: names
// with "./", the root entry, device nodes, a hard link.
func rootfsTar(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, "")
	add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"}, "")
	add(&tar.Header{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/bin/perl", Typeflag: tar.TypeReg, Mode: 0o755}, "#!perl")
	add(&tar.Header{Name: "./usr/bin/perl5.36", Typeflag: tar.TypeLink, Linkname: "./usr/bin/perl"}, "")
	add(&tar.Header{Name: "./etc/os-release", Typeflag: tar.TypeReg}, "ID=debian\n")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRootfsImage(t *testing.T) {
	dir := t.TempDir()
	base, src := filepath.Join(dir, "rootfs.tar"), filepath.Join(dir, "src.tar.gz")
	if err := os.WriteFile(base, rootfsTar(t), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "src/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "src/go.mod", Typeflag: tar.TypeReg, Mode: 0o644, Size: 9})
	tw.Write([]byte("module x\n"))
	tw.Close()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b.Bytes())
	zw.Close()
	if err := os.WriteFile(src, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "image.tar")
	err := writeRootfs(out, rootfsOptions{
		Layers: []string{base, src}, Ref: "dev/base:latest",
		Env: withPath([]string{"GOFLAGS=-mod=vendor"}), WorkDir: "/src", Cmd: []string{"/bin/sh"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := archive.Read(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !slices.Equal(imgs[0].Refs, []string{"dev/base:latest"}) || len(imgs[0].Layers) != 2 {
		t.Fatalf("want one image dev/base:latest of 2 layers, got %+v", imgs)
	}
	cfg := imgs[0].Config.Config
	if !slices.Equal(cfg.Env, []string{defaultPath, "GOFLAGS=-mod=vendor"}) || cfg.WorkingDir != "/src" || !slices.Equal(cfg.Cmd, []string{"/bin/sh"}) {
		t.Errorf("config: %+v", cfg)
	}

	l, err := archive.ReadLayer(imgs[0].Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]archive.Entry{}
	var paths []string
	for _, e := range l.Entries {
		got[e.Path] = e
		paths = append(paths, e.Path)
	}
	want := []string{"/dev", "/bin", "/usr", "/usr/bin", "/usr/bin/perl", "/usr/bin/perl5.36", "/etc/os-release"}
	if !slices.Equal(paths, want) {
		t.Errorf("layer 1 holds %q, want %q (no device, no root)", paths, want)
	}
	if e := got["/usr/bin/perl5.36"]; !e.Hardlink || e.Link != "/usr/bin/perl" {
		t.Errorf("hard link: %+v", e)
	}
	if e := got["/bin"]; e.Link != "usr/bin" {
		t.Errorf("symlink: %+v", e)
	}
	if e := got["/usr/bin/perl"]; string(e.Data) != "#!perl" || e.Mode.Perm() != 0o755 {
		t.Errorf("file: %+v", e)
	}
	l, err = archive.ReadLayer(imgs[0].Layers[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2 || string(l.Entries[1].Data) != "module x\n" {
		t.Errorf("layer 2 (gzipped input): %+v", l.Entries)
	}

	// The same inputs give the same archive.
	again := filepath.Join(dir, "again.tar")
	if err := writeRootfs(again, rootfsOptions{
		Layers: []string{base, src}, Ref: "dev/base:latest",
		Env: withPath([]string{"GOFLAGS=-mod=vendor"}), WorkDir: "/src", Cmd: []string{"/bin/sh"},
	}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b2, _ := os.ReadFile(again)
	if !bytes.Equal(a, b2) {
		t.Error("the same inputs gave different archives")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*mkimage*")); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

func TestRootfsRefusesEscapes(t *testing.T) {
	for name, ok := range map[string]bool{
		"./":           false,
		".":            false,
		"./etc/passwd": true,
		"etc/":         true,
		"../etc":       false,
		"a/../../b":    false,
	} {
		if _, got := layerName(name); got != ok {
			t.Errorf("layerName(%q) ok = %v, want %v", name, got, ok)
		}
	}
	dir := t.TempDir()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "a", Typeflag: tar.TypeLink, Linkname: "../etc/shadow"})
	tw.Close()
	bad := filepath.Join(dir, "bad.tar")
	os.WriteFile(bad, b.Bytes(), 0o644)
	if err := writeRootfs(filepath.Join(dir, "out.tar"), rootfsOptions{Layers: []string{bad}, Ref: "x:y"}); err == nil {
		t.Error("a hard link out of the root was accepted")
	}
	empty := filepath.Join(dir, "empty.tar")
	os.WriteFile(empty, []byte{}, 0o644)
	if err := writeRootfs(filepath.Join(dir, "out.tar"), rootfsOptions{Layers: []string{empty}, Ref: "x:y"}); err == nil {
		t.Error("an empty tar was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "out.tar")); err == nil {
		t.Error("a failed write left its output")
	}
}
