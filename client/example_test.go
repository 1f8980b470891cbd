package client_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/core"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/berth-dev/berth/runtime/runtimetest/testimage"
	"github.com/berth-dev/berth/server"
)

// Run a job through a daemon, wait for it and read its output.
func Example() {
	host, stop := startDaemon() // berth serve on the fake runtime, for the example
	defer stop()
	ctx := context.Background()

	c, err := client.New(host) // unix:///path/to/berth.sock, tcp://host:port, ...
	if err != nil {
		panic(err)
	}
	defer c.Close()
	image, workItem := "base:1", "TICKET-42"
	job, err := c.CreateJob(ctx, api.CreateJobRequest{
		Image: &image, WorkItem: &workItem, Cmd: []string{"sh", "-c", "echo hello; echo built > /work/out"},
	}, "TICKET-42-attempt-1")
	if err != nil {
		panic(err)
	}
	done, err := c.WaitJob(ctx, job.Id, time.Minute)
	if err != nil {
		panic(err)
	}
	res, _ := done.Result()
	fmt.Println("exit", res.ExitCode, "committed", res.Commit.Committed)
	err = c.Logs(ctx, job.Id, false, func(stream core.Stream, data []byte) error {
		fmt.Printf("%s: %s", stream, data)
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// exit 0 committed true
	// stdout: hello
}

// startDaemon serves the API of a core on the fake runtime.
func startDaemon() (host string, stop func()) {
	rt := fake.New()
	tarball, err := testimage.Tar(testimage.Options{Ref: "base:1", Busybox: []byte("not run by the fake")})
	if err != nil {
		panic(err)
	}
	if _, err := rt.LoadImage(context.Background(), bytes.NewReader(tarball)); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "berth-example-")
	if err != nil {
		panic(err)
	}
	hub := server.NewHub(0)
	c, err := core.Open(context.Background(), core.Config{StateDir: dir,
		Runtimes: core.RuntimeList{{Name: "fake", Runtime: rt}}, Policy: core.Policy{Enabled: true}, OnEvent: hub.Publish})
	if err != nil {
		panic(err)
	}
	srv := server.New(server.Options{Core: c, Events: hub})
	ts := httptest.NewServer(srv)
	return ts.URL, func() {
		srv.Close()
		ts.Close()
		c.Close()
		rt.Close()
		os.RemoveAll(dir)
	}
}
