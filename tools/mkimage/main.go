// Command mkimage writes a base image as a docker-save tar, so that berth can
// be tried and tested without a registry. By default the image is a small
// busybox one:
//
//	go run ./tools/mkimage -o base.tar -ref berth-demo/base:latest
//	berth images import --ref berth-demo/base:latest base.tar
//
// which needs a static busybox at /bin/busybox (Debian: busybox-static).
// With -rootfs it makes an image of root file system tars instead (as
// mmdebstrap or debootstrap make them, plain or gzipped), one layer each,
// bottom first:
//
//	mmdebstrap --variant=minbase bookworm rootfs.tar
//	go run ./tools/mkimage -rootfs rootfs.tar -rootfs src.tar \
//		-env PATH=/usr/local/go/bin:/usr/bin:/bin -workdir /src -o base.tar -ref dev/base:latest
//
// Device nodes are left out of the layers (the engines make /dev in every
// container). The layers pass through temporary files, never memory, so
// large file systems are fine.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// defaultPath is the image's PATH when -env does not set one.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// list is a repeatable flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	out := flag.String("o", "", "output file (default stdout)")
	ref := flag.String("ref", testimage.DefaultRef, "image reference recorded in the tar")
	busybox := flag.String("busybox", testimage.DefaultBusybox, "static busybox binary to put in the image (without -rootfs)")
	var rootfs, env list
	flag.Var(&rootfs, "rootfs", "a root file system tar (plain or gzipped) to make a layer of; repeat for more layers, bottom first")
	flag.Var(&env, "env", "KEY=VALUE in the image config's environment (with -rootfs; repeatable; PATH defaults to the usual one)")
	workdir := flag.String("workdir", "/", "the image config's working directory (with -rootfs)")
	cmd := flag.String("cmd", "/bin/sh", "the image config's command, split at spaces (with -rootfs)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}

	if len(rootfs) > 0 {
		fail(writeRootfs(*out, rootfsOptions{
			Layers:  rootfs,
			Ref:     *ref,
			Env:     withPath(env),
			WorkDir: *workdir,
			Cmd:     strings.Fields(*cmd),
		}))
		return
	}
	bb, err := os.ReadFile(*busybox)
	if err != nil {
		fail(fmt.Errorf("%v (install busybox-static)", err))
	}
	tar, err := testimage.Tar(testimage.Options{Ref: *ref, Busybox: bb})
	if err != nil {
		fail(err)
	}
	if *out == "" {
		_, err = os.Stdout.Write(tar)
	} else {
		err = os.WriteFile(*out, tar, 0o644)
	}
	fail(err)
}

// writeRootfs writes the image of opts to the file out (stdout when empty),
// through a temporary file beside it that is renamed once complete.
func writeRootfs(out string, opts rootfsOptions) error {
	for _, e := range opts.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("-env %q: want KEY=VALUE", e)
		}
	}
	if out == "" {
		return writeRootfsImage(os.Stdout, opts)
	}
	opts.TempDir = filepath.Dir(out)
	f, err := os.CreateTemp(opts.TempDir, ".mkimage-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = writeRootfsImage(f, opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), out)
	}
	return err
}

// withPath returns env with the default PATH first unless it sets one.
func withPath(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return env
		}
	}
	return append([]string{defaultPath}, env...)
}

// fail exits with the error, if any.
func fail(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}
