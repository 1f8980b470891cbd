package docker

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

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
		require.NoError(b, err)
		return img.ID
	})
}

// BenchmarkCommitSecretEnv is the same with a SecretEnv entry, which makes
// the driver scrub the committed config.
func BenchmarkCommitSecretEnv(b *testing.B) {
	benchCommit(b, []string{"TOKEN=" + secretValue}, func(d *Driver, raw *client.Client, id, ref string) string {
		img, err := d.Commit(context.Background(), id, runtime.CommitOptions{Ref: ref})
		require.NoError(b, err)
		return img.ID
	})
}

// BenchmarkDockerCommit is the SDK's commit of an identical container, as
// `docker commit` does it.
func BenchmarkDockerCommit(b *testing.B) {
	benchCommit(b, nil, func(d *Driver, raw *client.Client, id, ref string) string {
		res, err := raw.ContainerCommit(context.Background(), id, client.ContainerCommitOptions{Reference: ref})
		require.NoError(b, err)
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
		require.NoError(b, err)
		st, err := d.Wait(ctx, c.ID)
		require.NoError(b, err, "wait")
		require.Zero(b, st.ExitCode, "exit code")
		ref := newRef()
		b.StartTimer()
		id := commit(d, raw, c.ID, ref)
		b.StopTimer()
		require.NoError(b, d.Remove(ctx, c.ID))
		require.NoError(b, d.RemoveImage(ctx, id))
		b.StartTimer()
	}
}

// BenchmarkRun is run, wait and remove of `true` through the driver over
// the plugin wire, as berth does it.
func BenchmarkRun(b *testing.B) {
	rt := openPlugin(b)
	benchRun(b, func(ctx context.Context, spec runtime.ContainerSpec) {
		c, err := rt.Run(ctx, spec)
		require.NoError(b, err)
		st, err := rt.Wait(ctx, c.ID)
		require.NoError(b, err, "wait")
		require.Zero(b, st.ExitCode, "exit code")
		require.NoError(b, rt.Remove(ctx, c.ID))
	})
}

// BenchmarkRunInProcess is BenchmarkRun without the wire: the driver's
// own cost.
func BenchmarkRunInProcess(b *testing.B) {
	d := newDriver(b)
	benchRun(b, func(ctx context.Context, spec runtime.ContainerSpec) {
		c, err := d.Run(ctx, spec)
		require.NoError(b, err)
		st, err := d.Wait(ctx, c.ID)
		require.NoError(b, err, "wait")
		require.Zero(b, st.ExitCode, "exit code")
		require.NoError(b, d.Remove(ctx, c.ID))
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
		require.NoError(b, err)
		w := raw.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionRemoved})
		_, err = raw.ContainerStart(ctx, c.ID, client.ContainerStartOptions{})
		require.NoError(b, err)
		select {
		case r := <-w.Result:
			require.Zero(b, r.StatusCode, "exit code")
		case err := <-w.Error:
			require.NoError(b, err)
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
