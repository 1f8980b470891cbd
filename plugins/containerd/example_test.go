package containerd_test

import (
	"context"
	"fmt"
	"log"

	"github.com/berth-dev/berth/runtime"

	containerd "github.com/berth-dev/berth/plugins/containerd"
)

// Example runs a job, waits for it and commits its file system.
func Example() {
	d, err := containerd.New(containerd.Options{Namespace: "berth-example"})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	c, err := d.Run(ctx, runtime.ContainerSpec{
		Image:     "berth/base:latest",
		Cmd:       []string{"sh", "-c", "echo hi > /work/f"},
		SecretEnv: []string{"TOKEN=not-in-the-image"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Remove(ctx, c.ID)
	if _, err := d.Wait(ctx, c.ID); err != nil {
		log.Fatal(err)
	}
	img, err := d.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "berth/work:g1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Refs, img.Layers)
}
