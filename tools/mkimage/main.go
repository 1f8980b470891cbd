// Command mkimage writes a small busybox base image as a docker-save tar, so
// that berth can be tried and tested without a registry:
//
//	go run ./tools/mkimage -o base.tar -ref berth-demo/base:latest
//	berth images import --ref berth-demo/base:latest base.tar
//
// It needs a static busybox at /bin/busybox (Debian: busybox-static).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

func main() {
	out := flag.String("o", "", "output file (default stdout)")
	ref := flag.String("ref", testimage.DefaultRef, "image reference recorded in the tar")
	busybox := flag.String("busybox", testimage.DefaultBusybox, "static busybox binary to put in the image")
	flag.Parse()

	bb, err := os.ReadFile(*busybox)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v (install busybox-static)\n", err)
		os.Exit(1)
	}
	tar, err := testimage.Tar(testimage.Options{Ref: *ref, Busybox: bb})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.Write(tar)
	} else {
		err = os.WriteFile(*out, tar, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}
