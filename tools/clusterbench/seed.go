package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/runtime"
)

func seedMain(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("clusterbench seed", flag.ContinueOnError)
	registry := fs.String("registry", "", "the registry repository the workers share; required")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *registry == "" {
		return errors.New("-registry is required")
	}
	if err := seedRegistry(context.Background(), *registry); err != nil {
		return err
	}
	fmt.Fprintf(w, "seed: the base image's layer is in %s\n", *registry)
	return nil
}

// seedRegistry puts the base image's layer in repo before the workers
// start, so that they do not all upload it at once with their first
// commits: Distribution's registry (2.8, filesystem storage) fails some of
// the manifests of images pushed at once that share a blob new to the
// repository (MANIFEST_BLOB_UNKNOWN), and berth does not push again. The
// image goes in, then its manifest goes (the layer stays, linked to the
// repository, until the registry's garbage collection).
func seedRegistry(ctx context.Context, repo string) error {
	rt, err := newFake(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	digest, err := rt.PushImage(ctx, baseImage, repo+":seed", runtime.RegistryOptions{})
	if err != nil {
		return fmt.Errorf("push the base image to %s: %w", repo, err)
	}
	r, err := repository(repo)
	if err != nil {
		return err
	}
	if err := remote.Delete(r.Digest(digest), remote.WithContext(ctx)); err != nil && !notFound(err) {
		return fmt.Errorf("delete the base image's manifest %s@%s: %w", repo, digest, err)
	}
	return nil
}
