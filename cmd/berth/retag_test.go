package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

func TestRetag(t *testing.T) {
	src, err := testimage.Tar(testimage.Options{Busybox: []byte("not busybox")})
	if err != nil {
		t.Fatal(err)
	}
	rc := retag(bytes.NewReader(src), "example/base")
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	var names []string
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"example/base:latest"}) {
			t.Errorf("manifest = %+v", m)
		}
	}
	if !slices.Contains(names, "manifest.json") {
		t.Errorf("no manifest.json in %v", names)
	}
}

func TestRetagGarbage(t *testing.T) {
	rc := retag(bytes.NewReader([]byte("not a tar file at all, certainly not")), "x:y")
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, runtime.ErrInvalidArgument) {
		t.Errorf("retag of garbage: %v, want ErrInvalidArgument", err)
	}
}

func TestWithTag(t *testing.T) {
	for in, want := range map[string]string{
		"a":                   "a:latest",
		"a:b":                 "a:b",
		"host:5000/a":         "host:5000/a:latest",
		"host:5000/a:t":       "host:5000/a:t",
		"a@sha256:0123456789": "a@sha256:0123456789",
	} {
		if got := withTag(in); got != want {
			t.Errorf("withTag(%q) = %q, want %q", in, got, want)
		}
	}
}
