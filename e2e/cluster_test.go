package e2e

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCluster: two hosts, each a berth with its own state directory and
// its own engine, share one PostgreSQL database and one registry, for each
// pair of the engines under test (A on the first, B on the second): a work
// item goes from host to host through the registry, runs on one host at a
// time, survives a host killed mid-job, and leaves nothing on either
// engine or in the registry.
func TestCluster(t *testing.T) {
	names, err := requested()
	require.NoError(t, err)
	var engines []string
	for _, n := range names {
		if targets[n].module != "" {
			engines = append(engines, n)
		}
	}
	if len(engines) < 2 {
		drivertest.Require(t, "TestCluster needs two engines", fmt.Errorf("BERTH_E2E_RUNTIMES has %q", engines))
	}
	// Each engine once as host A and once as host B.
	for i, a := range engines {
		b := engines[(i+1)%len(engines)]
		if len(engines) == 2 && i == 1 {
			break
		}
		t.Run(a+" then "+b, func(t *testing.T) {
			clusterScenario(t, a, b, testenv.PostgresSchema(t, "berth_e2e_"), testenv.Repository(t, "berth-e2e/"))
		})
	}
}

// clusterHost is one host: a step env on its engine, with the cluster's
// config.
type clusterHost struct {
	*env
	name string
}

func clusterScenario(t *testing.T, a, b, store, registry string) {
	sa, sb := newSuite(t, targets[a]), newSuite(t, targets[b])
	// One base image, under one reference, on both engines: the work
	// item's snapshots are of it wherever they run.
	sb.base, sb.tarball = sa.base, sa.tarball
	hosts := []*clusterHost{{sa.newEnv(t), "A (" + a + ")"}, {sb.newEnv(t), "B (" + b + ")"}}
	project := hosts[0].project
	hosts[1].project = project
	sb.projects = append(sb.projects, project)
	config := "store: " + store + "\nregistry: " + registry + "\ngc:\n  orphan_grace: 1s\n"
	for _, h := range hosts {
		h.writeConfig(config)
	}
	A, B := hosts[0], hosts[1]
	const w = "item-cluster"

	// A cold, B warm from A's snapshot (pulled), A warm from B's.
	g1 := A.mustRun(w, "echo a1 > /work/a")
	require.True(t, g1.Commit.Committed, "A's first job not committed: %+v", g1.Commit)
	require.NotEmpty(t, g1.Commit.Digest, "A's commit not pushed: %s", g1.Commit.PushError)
	g2, out := B.run(w, nil, "cat /work/a && echo b2 > /work/b")
	require.Equal(t, exits{0, 0}, exits{out.code, g2.ExitCode}, "B's job: %v", out)
	require.True(t, g2.Hit && g2.Pulled, "B's job: hit %v, pulled %v (%s)", g2.Hit, g2.Pulled, g2.Reason)
	assert.Contains(t, out.stderr, "a1", "B's job saw A's work")
	require.NotEmpty(t, g2.Commit.Digest, "B's commit not pushed: %s", g2.Commit.PushError)
	assert.Equal(t, 2, g2.Commit.Generation, "B's generation")
	g3, out := A.run(w, nil, "cat /work/a /work/b && echo a3 > /work/c")
	require.Equal(t, exits{0, 0}, exits{out.code, g3.ExitCode}, "A's second job: %v", out)
	require.True(t, g3.Hit && g3.Pulled, "A's second job: hit %v, pulled %v (%s)", g3.Hit, g3.Pulled, g3.Reason)
	assert.Contains(t, out.stderr, "b2", "A's job saw B's work")
	assert.Equal(t, 3, g3.Commit.Generation, "A's second generation")
	assert.Equal(t, []string{g3.Commit.Digest}, registryDigests(t, registry), "the registry's manifests: the newest generation alone")

	// Both hosts start the work item at once: one runs after the other
	// (the kernel's uptime, which containers share, marks each job's span).
	var wg sync.WaitGroup
	spans := make([][2]float64, 2)
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := h.exec(h.runArgs(w, nil, "cut -d' ' -f1 /proc/uptime; sleep 2; echo x >> /work/turns; cut -d' ' -f1 /proc/uptime")...)
			if !assert.NoError(t, err) || !assert.Equal(t, 0, out.code, "host %s at once: %v", h.name, out) {
				return
			}
			lines := strings.Fields(out.stderr)
			if assert.GreaterOrEqual(t, len(lines), 2, "host %s: %v", h.name, out) {
				spans[i][0], _ = strconv.ParseFloat(lines[0], 64)
				spans[i][1], _ = strconv.ParseFloat(lines[len(lines)-1], 64)
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(spans, func(x, y [2]float64) int { return cmp.Compare(x[0], y[0]) })
	assert.LessOrEqual(t, spans[0][1], spans[1][0], "the jobs of one work item on two hosts overlapped: %v", spans)
	turns, out := B.run(w, nil, "cat /work/turns")
	require.Equal(t, exits{0, 0}, exits{out.code, turns.ExitCode}, "B after both: %v", out)
	assert.Equal(t, 2, strings.Count(out.stderr, "x"), "the second job of the two started from the first's snapshot: %v", out)

	// A killed mid-job: B takes the work item at once (A's lock went with
	// A's connections), while A's container still runs; A's next gc
	// removes that container.
	kill := []string{"run", "--image", A.s.base, "--project", project, "--work-item", w, "--", "sh", "-c", "echo started; sleep 120"}
	r := A.start(t.Context(), kill, nil)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL), "kill host A's berth")
	assert.Equal(t, -1, r.wait(t), "exit code of berth after SIGKILL")
	after, out := B.run(w, nil, "cat /work/c")
	require.Equal(t, exits{0, 0}, exits{out.code, after.ExitCode}, "B after A was killed: %v", out)
	ctrs := A.containers()
	require.Len(t, ctrs, 1, "host A's killed job's container")
	ctr, err := A.driver().InspectContainer(context.Background(), ctrs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "running", string(ctr.State), "B ran the work item only once A's job ended")
	rep := A.sweep("--orphan-grace", "0s")
	assert.Len(t, rep.RemovedContainers, 1, "host A's gc after its kill: %+v", rep)
	A.noContainers()

	// Cleanup: the work item's snapshots removed on each host leave
	// nothing on either engine (checked when the step ends) or in the
	// registry.
	for _, h := range hosts {
		out := h.berth("snapshots", "rm", "--project", project, "--work-item", w)
		assert.Equal(t, 0, out.code, "host %s: snapshots rm: %v", h.name, out)
	}
	assert.Empty(t, registryDigests(t, registry), "manifests left in the registry")
}

// registryDigests lists the digests of the manifests the registry's
// repository holds, by its tags (a manifest deleted takes its tags along).
func registryDigests(t *testing.T, repository string) []string {
	t.Helper()
	var digests []string
	for _, tag := range testenv.Tags(t, repository) {
		if d, ok := testenv.Manifest(t, repository, tag); ok {
			digests = append(digests, d)
		}
	}
	return digests
}
