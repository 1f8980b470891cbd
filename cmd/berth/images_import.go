package main

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/runtime"
)

func (a *app) imagesImportCommand() *cobra.Command {
	var ref string
	cmd := &cobra.Command{
		Use:   "import [--runtime NAME] [--ref REF] FILE",
		Short: "Load a docker-save or OCI layout tar into the runtime's engine (no registry needed)",
		Long: `Load a docker-save or OCI layout tar into the runtime's engine (no registry
needed).

images import runs in process only: the daemon's API takes no image files.
When --host, BERTH_HOST or the config's host names a daemon it refuses, with
one line saying so; run it on the daemon's machine with --host '' (the
daemon's jobs see the image if it uses the same engine).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if a.host != "" {
				return a.inProcessOnly(cmd, "the daemon's API takes no image files")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("images import: %w", err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("images import: %w", err)
			}
			if fi.IsDir() {
				return fmt.Errorf("images import: %s is a directory, want a tar file", args[0])
			}
			name, err := a.resolveRuntime(cmd)
			if err != nil {
				return err
			}
			rt, err := a.set.get(ctx, name)
			if err != nil {
				return err
			}
			var r io.Reader = f
			finish := func() {}
			if isTerminal(a.stderr) {
				p := newProgress(a.stderr, "importing "+args[0], fi.Size())
				finish = p.done
				r = io.TeeReader(f, p)
			}
			if ref != "" {
				rc := retag(r, ref)
				defer rc.Close()
				r = rc
			}
			imgs, err := rt.LoadImage(ctx, r)
			finish()
			if err != nil {
				return fmt.Errorf("images import %s: %w", args[0], err)
			}
			for _, img := range imgs {
				printImage(a, img, ref)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "reference to give the image (the archive must hold exactly one)")
	return cmd
}

// printImage says what was loaded, by the reference asked for (the engine
// may know the same image by other references too), else by its first.
func printImage(a *app, img runtime.Image, ref string) {
	name := img.ID
	switch {
	case ref != "" && slices.Contains(img.Refs, ref):
		name = ref
	case len(img.Refs) > 0:
		name = img.Refs[0]
	}
	fmt.Fprintf(a.stdout, "loaded %s (%s, %s, %d layers)\n", name, img.ID, humanBytes(img.Size), img.Layers)
}
