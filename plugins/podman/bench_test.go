package podman

import (
	"fmt"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/specgen"
	"github.com/stretchr/testify/require"
)

// writeFiles is a job that writes 2,000 small files.
const writeFiles = `mkdir -p /work/many && cd /work/many && seq 2000 | while read i; do echo "$i" > "f$i"; done`

// BenchmarkCommit compares the driver's Commit of a container that wrote
// 2,000 small files with the bindings' raw commit of an identical one.
func BenchmarkCommit(b *testing.B) {
	f := newFixture(b)
	for _, tc := range []struct {
		name   string
		commit func(id, repo, tag string) error
	}{
		{"driver", func(id, repo, tag string) error {
			_, err := f.d.Commit(f.ctx, id, runtime.CommitOptions{Ref: repo + ":" + tag})
			return err
		}},
		{"bindings", func(id, repo, tag string) error {
			no := false
			_, err := containers.Commit(f.raw, id, &containers.CommitOptions{Repo: &repo, Tag: &tag, Pause: &no})
			return err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				c, st, _ := f.runToEnd(f.spec("sh", "-c", writeFiles))
				require.Equal(b, 0, st.ExitCode, "job exit code %d", st.ExitCode)
				repo := fmt.Sprintf("berth-test/podman-bench-%s-%s", tc.name, f.id)
				tag := fmt.Sprint(i)
				b.StartTimer()
				require.NoError(b, tc.commit(c.ID, repo, tag))
				b.StopTimer()
				require.NoError(b, f.d.Remove(f.ctx, c.ID))
				require.NoError(b, f.d.RemoveImage(f.ctx, repo+":"+tag))
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRunTrue measures Run, Wait and Remove of `true` through the
// driver over the plugin wire, in process, and with the raw bindings
// (create, start, wait, remove) for comparison.
func BenchmarkRunTrue(b *testing.B) {
	f := newFixture(b)
	cycle := func(b *testing.B, rt runtime.Runtime) {
		for b.Loop() {
			c, err := rt.Run(f.ctx, f.spec("true"))
			require.NoError(b, err)
			st, err := rt.Wait(f.ctx, c.ID)
			require.False(b, err != nil || st.ExitCode != 0, "Wait: %+v, %v", st, err)
			require.NoError(b, rt.Remove(f.ctx, c.ID))
		}
	}
	b.Run("wire", func(b *testing.B) { cycle(b, openWire(b, nil)) })
	b.Run("inprocess", func(b *testing.B) { cycle(b, f.d) })
	b.Run("bindings", func(b *testing.B) {
		for b.Loop() {
			s := specgen.NewSpecGenerator(f.base, false)
			s.Command = []string{"true"}
			s.Labels = map[string]string{testLabel: f.id}
			created, err := containers.CreateWithSpec(f.raw, s, nil)
			require.NoError(b, err)
			require.NoError(b, containers.Start(f.raw, created.ID, nil))
			interval := waitInterval // as the driver waits
			_, err = containers.Wait(f.raw, created.ID, &containers.WaitOptions{Conditions: []string{"exited", "stopped"}, Interval: &interval})
			require.NoError(b, err)
			_, err = containers.Remove(f.raw, created.ID, new(containers.RemoveOptions).WithForce(true))
			require.NoError(b, err)
		}
	})
}
