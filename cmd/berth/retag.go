package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// retag returns the image archive read from r (docker-save or OCI layout)
// with its only image named ref. Reading fails if the archive does not
// hold exactly one image. Close releases the copy when reading stops early.
func retag(r io.Reader, ref string) io.ReadCloser {
	ref = withTag(ref)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(rewrite(r, pw, ref))
	}()
	return &retagged{PipeReader: pr, done: done}
}

// retagged is the reading end of a rewrite.
type retagged struct {
	*io.PipeReader
	done chan struct{}
}

// Close stops the rewrite and waits for it to end.
func (r *retagged) Close() error {
	err := r.PipeReader.Close()
	<-r.done
	return err
}

// withTag adds ":latest" to a reference without tag or digest.
func withTag(ref string) string {
	last := ref[strings.LastIndex(ref, "/")+1:]
	if strings.Contains(last, ":") || strings.Contains(last, "@") {
		return ref
	}
	return ref + ":latest"
}

func rewrite(r io.Reader, w io.Writer, ref string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("reading image archive: %w", err)
		}
		var edit func([]byte, string) ([]byte, error)
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json":
			edit = retagManifest
		case "index.json":
			edit = retagIndex
		case "repositories":
			continue // legacy names; manifest.json is the authority
		}
		if edit == nil {
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if data, err = edit(data, ref); err != nil {
			return err
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
}

// retagManifest names the only image of a docker-save manifest.json.
func retagManifest(data []byte, ref string) ([]byte, error) {
	var m []map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(m) != 1 {
		return nil, fmt.Errorf("--ref needs an archive with one image, this one has %d", len(m))
	}
	m[0]["RepoTags"] = []string{ref}
	return json.Marshal(m)
}

// retagIndex names the only manifest of an OCI layout's index.json.
func retagIndex(data []byte, ref string) ([]byte, error) {
	var idx map[string]any
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	ms, _ := idx["manifests"].([]any)
	if len(ms) != 1 {
		return nil, fmt.Errorf("--ref needs an archive with one image, this one has %d", len(ms))
	}
	m, ok := ms[0].(map[string]any)
	if !ok {
		return nil, errors.New("index.json: malformed manifest entry")
	}
	ann, _ := m["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann["org.opencontainers.image.ref.name"] = ref
	ann["io.containerd.image.name"] = ref
	m["annotations"] = ann
	return json.Marshal(idx)
}
