package fake_test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
)

// Example runs a job on the fake, commits it as a snapshot and runs the
// next job from the snapshot.
func Example() {
	ctx := context.Background()
	rt := fake.New()
	defer rt.Close()

	// A base image; the fake does not execute busybox, any bytes will do.
	tarball, err := testimage.Tar(testimage.Options{Ref: "example/base:1", Busybox: []byte("busybox")})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := rt.LoadImage(ctx, bytes.NewReader(tarball)); err != nil {
		fmt.Println(err)
		return
	}

	c, err := rt.Run(ctx, runtime.ContainerSpec{
		Image:     "example/base:1",
		Cmd:       []string{"sh", "-c", `echo "step 1" >> /work/notes && echo "token: ${TOKEN:+set}"`},
		SecretEnv: []string{"TOKEN=s3cr3t"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := rt.Wait(ctx, c.ID)
	rt.Logs(ctx, c.ID, runtime.LogOptions{}, os.Stdout, os.Stderr)
	fmt.Println("exit code:", st.ExitCode)

	snap, err := rt.Commit(ctx, c.ID, runtime.CommitOptions{Ref: "example/snap:g1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("layers:", snap.Layers, "env:", snap.Env)
	rt.Remove(ctx, c.ID)

	c, _ = rt.Run(ctx, runtime.ContainerSpec{Image: "example/snap:g1", Cmd: []string{"cat", "/work/notes"}})
	rt.Wait(ctx, c.ID)
	rt.Logs(ctx, c.ID, runtime.LogOptions{}, os.Stdout, os.Stderr)
	// Output:
	// token: set
	// exit code: 0
	// layers: 2 env: [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin]
	// step 1
}

// ExampleParseFaults makes the second commit fail, as the driver option
// "faults" of berth-driver-fake does.
func ExampleParseFaults() {
	faults, err := fake.ParseFaults("commit:2:unavailable,wait:1:hang")
	if err != nil {
		fmt.Println(err)
		return
	}
	rt := fake.New(fake.WithFaults(faults...))
	fmt.Println(len(faults), "faults;", faults[0], faults[1])
	_ = rt
	// Output: 2 faults; commit:2:unavailable wait:1:hang
}
