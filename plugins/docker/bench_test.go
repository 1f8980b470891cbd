package docker

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/berth-dev/berth/runtime"
)

// Run with: go test -run '^$' -bench . -benchtime 10x
//
// The commit benchmarks time the commit only; making the container (which
// writes 2,000 small files) and removing the image are outside the timer.

// BenchmarkCommit is the driver's commit of a container that wrote 2,000
// small files.
func BenchmarkCommit(b *testing.B) {
	benchCommit(b, nil, func(d *Driver, raw *client.Client, id, ref string) string {
		img, err := d.Commit(context.Background(), id, runtime.CommitOptions{Ref: ref})
		if err != nil {
			b.Fatal(err)
		}
		return img.ID
	})
}

// BenchmarkCommitSecretEnv is the same with a SecretEnv entry, which makes
// the driver scrub the committed config.
func BenchmarkCommitSecretEnv(b *testing.B) {
	benchCommit(b, []string{"TOKEN=" + secretValue}, func(d *Driver, raw *client.Client, id, ref string) string {
		img, err := d.Commit(context.Background(), id, runtime.CommitOptions{Ref: ref})
		if err != nil {
			b.Fatal(err)
		}
		return img.ID
	})
}

// BenchmarkDockerCommit is the SDK's commit of an identical container, as
// `docker commit` does it.
func BenchmarkDockerCommit(b *testing.B) {
	benchCommit(b, nil, func(d *Driver, raw *client.Client, id, ref string) string {
		res, err := raw.ContainerCommit(context.Background(), id, client.ContainerCommitOptions{Reference: ref})
		if err != nil {
			b.Fatal(err)
		}
		return res.ID
	})
}

func benchCommit(b *testing.B, secrets []string, commit func(d *Driver, raw *client.Client, id, ref string) string) {
	d := newDriver(b)
	raw := rawClient(b)
	ctx := context.Background()
	base := baseImage(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c, err := d.Run(ctx, runtime.ContainerSpec{
			Image: base, Cmd: []string{"sh", "-c", writeFiles},
			SecretEnv: secrets, Labels: map[string]string{testLabel: testValue},
		})
		if err != nil {
			b.Fatal(err)
		}
		if st, err := d.Wait(ctx, c.ID); err != nil || st.ExitCode != 0 {
			b.Fatalf("wait: %+v, %v", st, err)
		}
		ref := newRef()
		b.StartTimer()
		id := commit(d, raw, c.ID, ref)
		b.StopTimer()
		if err := d.Remove(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		if err := d.RemoveImage(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkRun is run, wait and remove of `true` through the driver over
// the plugin wire, as berth does it.
func BenchmarkRun(b *testing.B) {
	rt := openPlugin(b)
	benchRun(b, func(ctx context.Context, spec runtime.ContainerSpec) {
		c, err := rt.Run(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if st, err := rt.Wait(ctx, c.ID); err != nil || st.ExitCode != 0 {
			b.Fatalf("wait: %+v, %v", st, err)
		}
		if err := rt.Remove(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRunInProcess is BenchmarkRun without the wire: the driver's
// own cost.
func BenchmarkRunInProcess(b *testing.B) {
	d := newDriver(b)
	benchRun(b, func(ctx context.Context, spec runtime.ContainerSpec) {
		c, err := d.Run(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		if st, err := d.Wait(ctx, c.ID); err != nil || st.ExitCode != 0 {
			b.Fatalf("wait: %+v, %v", st, err)
		}
		if err := d.Remove(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkDockerRun is the same with the SDK, as `docker run --rm` does
// it (create, wait, start, wait for the exit, with the engine removing the
// container).
func BenchmarkDockerRun(b *testing.B) {
	raw := rawClient(b)
	benchRun(b, func(ctx context.Context, spec runtime.ContainerSpec) {
		c, err := raw.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config:     &container.Config{Image: spec.Image, Cmd: spec.Cmd, Labels: spec.Labels},
			HostConfig: &container.HostConfig{AutoRemove: true},
		})
		if err != nil {
			b.Fatal(err)
		}
		w := raw.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		if _, err := raw.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			b.Fatal(err)
		}
		select {
		case r := <-w.Result:
			if r.StatusCode != 0 {
				b.Fatalf("exit %d", r.StatusCode)
			}
		case err := <-w.Error:
			b.Fatal(err)
		}
	})
}

func benchRun(b *testing.B, run func(context.Context, runtime.ContainerSpec)) {
	spec := runtime.ContainerSpec{Image: baseImage(b), Cmd: []string{"true"}, Labels: map[string]string{testLabel: testValue}}
	ctx := context.Background()
	run(ctx, spec) // warm up
	b.ResetTimer()
	for range b.N {
		run(ctx, spec)
	}
}
