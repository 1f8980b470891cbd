package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

func TestRetag(t *testing.T) {
	src, err := testimage.Tar(testimage.Options{Busybox: []byte("not busybox")})
	require.NoError(t, err)
	rc := retag(bytes.NewReader(src), "example/base")
	out, err := io.ReadAll(rc)
	require.NoError(t, err)
	rc.Close()
	var names []string
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		names = append(names, h.Name)
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		require.NoError(t, json.NewDecoder(tr).Decode(&m))
		if assert.Len(t, m, 1, "images of the manifest") {
			assert.Equal(t, []string{"example/base:latest"}, m[0].RepoTags)
		}
	}
	assert.Contains(t, names, "manifest.json")
}

func TestRetagGarbage(t *testing.T) {
	rc := retag(bytes.NewReader([]byte("not a tar file at all, certainly not")), "x:y")
	defer rc.Close()
	_, err := io.ReadAll(rc)
	assert.ErrorIs(t, err, runtime.ErrInvalidArgument, "retag of garbage")
}

func TestWithTag(t *testing.T) {
	for in, want := range map[string]string{
		"a":                   "a:latest",
		"a:b":                 "a:b",
		"host:5000/a":         "host:5000/a:latest",
		"host:5000/a:t":       "host:5000/a:t",
		"a@sha256:0123456789": "a@sha256:0123456789",
	} {
		assert.Equal(t, want, withTag(in), "withTag(%q)", in)
	}
}
