package podman

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/pkg/bindings/containers"
)

// Logs copies the container's output into stdout and stderr as it comes.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions, stdout, stderr io.Writer) error {
	if id == "" {
		return invalid("logs", "empty container ID")
	}
	c, err := d.client(ctx)
	if err != nil {
		return err
	}
	// The bindings hand each frame over on a channel; a writer that fails
	// cancels the request, and the channels are drained until it returns.
	reqCtx, cancel := context.WithCancel(c)
	defer cancel()
	outc, errc := make(chan string), make(chan string)
	done := make(chan error, 1)
	yes := true
	go func() {
		done <- containers.Logs(reqCtx, id, &containers.LogOptions{
			Follow: &opts.Follow, Stdout: &yes, Stderr: &yes,
		}, outc, errc)
	}()
	var writeErr error
	write := func(w io.Writer, s string) {
		if writeErr != nil {
			return
		}
		if _, err := io.WriteString(w, s); err != nil {
			writeErr = err
			cancel()
		}
	}
	for {
		select {
		case s := <-outc:
			write(stdout, s)
		case s := <-errc:
			write(stderr, s)
		case err := <-done:
			if writeErr != nil {
				return fmt.Errorf("podman: logs %s: writing: %w", id, writeErr)
			}
			return d.wrap(ctx, "logs "+id, err)
		}
	}
}
