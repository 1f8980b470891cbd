package main

import (
	"io"
	"strings"

	"github.com/berth-dev/berth/runtime/archive"
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
		pw.CloseWithError(archive.Retag(r, pw, ref))
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
