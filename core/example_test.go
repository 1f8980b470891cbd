package core_test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// A job of a work item runs twice: the first on the base image, the second
// on the snapshot the first left.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "berth-example")
	defer os.RemoveAll(dir)

	rt := fake.New()
	defer rt.Close()
	tarball, _ := testimage.Tar(testimage.Options{Ref: "example/base:1", Busybox: []byte("-")})
	rt.LoadImage(ctx, bytes.NewReader(tarball))

	c, err := core.Open(ctx, core.Config{
		StateDir: dir,
		Runtimes: core.RuntimeList{{Name: "fake", Runtime: rt}},
		Policy:   core.Policy{Enabled: true},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	for range 2 {
		var out bytes.Buffer
		res, err := c.Run(ctx, core.Job{
			Image:    "example/base:1",
			Cmd:      []string{"sh", "-c", "echo snapshot=$BERTH_SNAPSHOT; cat /work/notes; echo more >> /work/notes"},
			Project:  "web",
			WorkItem: "issue-42",
			Stdout:   &out,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s(reason %s, committed generation %d)\n", out.String(), res.Reason, res.Commit.Generation)
	}
	// Output:
	// snapshot=0
	// (reason none, committed generation 1)
	// snapshot=1
	// more
	// (reason hit, committed generation 2)
}
