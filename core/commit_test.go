package core

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNoCommitAfterFailure(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo 1 > /work/v"))
	res, _ := e.run(nil, job("w", "echo 2 > /work/v; exit 3"))
	require.Equal(t, 3, res.ExitCode, "exit code")
	require.False(t, res.Commit.Committed, "committed after exit 3")
	require.Equal(t, NoCommitExitCode, res.Commit.Reason, "commit reason after exit 3")
	res, out := e.run(nil, job("w", "cat /work/v"))
	require.True(t, res.Hit, "after a failed run: a miss (%s)", res.Reason)
	require.Equal(t, first.Commit.Image, res.Image, "image after a failed run (the first snapshot)")
	require.Equal(t, "1\n", out, "output after a failed run")
	e.noContainers()
}

func TestTimeoutStopsAndNeverCommits(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		script string
		code   int
	}{
		{"touch /work/t; sleep 3600", 143},               // ends on SIGTERM
		{"trap '' TERM; touch /work/t; sleep 3600", 137}, // ignores it: killed after the grace
	} {
		j := job("w", tc.script)
		j.Timeout = 30 * ms
		res, err := e.core.Run(context.Background(), j)
		require.NoError(t, err, "Run with timeout (a timeout is no berth failure)")
		require.True(t, res.TimedOut, "%q did not time out", tc.script)
		require.Equal(t, tc.code, res.ExitCode, "%q: exit code", tc.script)
		require.False(t, res.Commit.Committed, "%q: committed after a timeout", tc.script)
		require.Equal(t, NoCommitTimeout, res.Commit.Reason, "%q: commit reason", tc.script)
		e.noContainers()
	}
	en := e.entry("w")
	assert.False(t, en.Found, "snapshot stored after timeouts: %+v", en.Snapshot)
}

func TestCancelStopsRemovesAndNeverCommits(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var res Result
	var err error
	go func() {
		defer close(done)
		res, err = e.core.Run(ctx, job("w", "touch /work/c; sleep 3600"))
	}()
	waitFor(t, "the job's container to run", func() bool {
		ctrs := e.containers()
		return len(ctrs) == 1 && ctrs[0].State == runtime.StateRunning
	})
	cancel()
	<-done
	require.ErrorIs(t, err, context.Canceled, "cancelled job")
	require.True(t, res.Cancelled, "cancelled job: result not cancelled")
	require.False(t, res.Commit.Committed, "cancelled job committed")
	require.Equal(t, NoCommitCancelled, res.Commit.Reason, "cancelled job's commit reason")
	e.noContainers()
	jobs, _ := e.core.st.Jobs(context.Background())
	assert.Empty(t, jobs, "job rows left")
}

func TestSecretsNeverReachTheImage(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.NeverCommitEnv = []string{"DB_PASS"} })
	j := job("w", "env")
	j.Env = []string{"VISIBLE=yes", "DB_PASS=hunter2"}
	j.SecretEnv = []string{"API_TOKEN=s3cret"}
	res, out := e.run(nil, j)
	seen := envOf(out)
	for k, v := range map[string]string{"VISIBLE": "yes", "DB_PASS": "hunter2", "API_TOKEN": "s3cret"} {
		require.Equal(t, v, seen[k], "the job's %s", k)
	}
	img, err := e.rt.InspectImage(context.Background(), res.Commit.Image)
	require.NoError(t, err)
	for _, kv := range img.Env {
		require.NotContains(t, kv, "hunter2", "committed image carries a secret (env %q)", img.Env)
		require.NotContains(t, kv, "s3cret", "committed image carries a secret (env %q)", img.Env)
	}
	require.Contains(t, img.Env, "VISIBLE=yes", "committed image lost plain env")
	_, out = e.run(nil, job("w", "env"))
	seen = envOf(out)
	assert.Empty(t, seen["DB_PASS"], "a later job on the snapshot sees DB_PASS")
	assert.Empty(t, seen["API_TOKEN"], "a later job on the snapshot sees API_TOKEN")
}

func TestCommittedImageLabels(t *testing.T) {
	e := newEnv(t, nil)
	j := job("issue-7", "true")
	j.Project, j.Labels = "web", map[string]string{"team": "infra"}
	res, _ := e.run(nil, j)
	img, err := e.rt.InspectImage(context.Background(), res.Commit.Image)
	require.NoError(t, err)
	want := map[string]string{
		LabelManagedBy: "berth", LabelInstance: e.core.InstanceID(), LabelProject: "web",
		LabelWorkItem: "issue-7", LabelGeneration: "1", LabelBaseImage: baseRef, LabelJob: res.JobID, "team": "infra",
		LabelRuntime: "fake",
	}
	for k, v := range want {
		require.Equal(t, v, img.Labels[k], "label %s (labels %v)", k, img.Labels)
	}
	assert.Equal(t, img.ID, res.Commit.ImageID, "the result's image ID")
	assert.Contains(t, img.Refs, res.Commit.Image, "the image's references")
}

func TestCommitFailureNeverFailsTheJob(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo 1 > /work/v"))
	e.rt.FailNth(fake.OpCommit, e.rt.Calls(fake.OpCommit)+1, runtime.ErrUnavailable)
	res, err := e.core.Run(context.Background(), job("w", "echo 2 > /work/v"))
	require.NoError(t, err, "commit failure failed the job")
	require.Equal(t, 0, res.ExitCode, "exit code")
	require.False(t, res.Commit.Committed, "committed despite the failure")
	require.NotEmpty(t, res.Commit.Error, "commit failure not reported: %+v", res.Commit)
	require.Equal(t, float64(1), e.core.Counters()[MetricCommitFailures], "commit failures counted")
	res, out := e.run(nil, job("w", "cat /work/v"))
	assert.Equal(t, first.Commit.Image, res.Image, "image after a failed commit (the previous snapshot)")
	assert.Equal(t, "1\n", out, "output after a failed commit")
	e.noContainers()
}

func TestNewGenerationReplacesOld(t *testing.T) {
	e := newEnv(t, nil)
	var refs []string
	for i := 1; i <= 3; i++ {
		res, _ := e.run(nil, job("w", "true"))
		require.Equal(t, i, res.Commit.Generation, "run %d's generation", i)
		require.True(t, strings.HasSuffix(res.Commit.Image, ":g"+strconv.Itoa(i)), "run %d's image %q, want tag g%d", i, res.Commit.Image, i)
		refs = append(refs, res.Commit.Image)
	}
	for _, old := range refs[:2] {
		require.False(t, e.imageExists(old), "old generation %s still exists", old)
	}
	assert.True(t, e.imageExists(refs[2]), "newest generation missing")
}

func TestOldGenerationInUseIsLeftForTheSweep(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "true"))
	e.rt.FailNth(fake.OpRemoveImage, e.rt.Calls(fake.OpRemoveImage)+1, runtime.ErrConflict)
	second, err := e.core.Run(context.Background(), job("w", "true"))
	require.NoError(t, err, "an old image in use failed the job")
	require.True(t, second.Commit.Committed, "an old image in use failed the commit: %+v", second.Commit)
	require.True(t, e.imageExists(first.Commit.ImageID), "old generation removed despite the conflict (test setup broken)")
	rep, err := e.core.Sweep(context.Background(), SweepOptions{})
	require.NoError(t, err)
	require.Contains(t, rep.RemovedImages, first.Commit.Image, "the sweep did not remove the dangling generation")
	require.False(t, e.imageExists(first.Commit.ImageID), "dangling generation left after the sweep")
	assert.True(t, e.imageExists(second.Commit.Image), "the sweep removed the current generation")
}

func TestLayerLimitSquashes(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.LayerLimit = 4 })
	var squashed bool
	for i := 1; i <= 8; i++ {
		res, out := e.run(nil, job("w", "cat /work/log; echo x >> /work/log"))
		if i > 1 {
			require.True(t, res.Hit, "run %d: a miss (%s); squashing must keep reusing", i, res.Reason)
			require.Equal(t, strings.Repeat("x\n", i-1), out, "run %d's output", i)
		}
		require.LessOrEqual(t, res.Commit.Layers, 4, "run %d: layers committed over the limit 4", i)
		require.LessOrEqual(t, e.imageLayers(res.Commit.Image), 4, "run %d: layers of the image over the limit 4", i)
		squashed = squashed || res.Commit.Squashed
	}
	assert.True(t, squashed, "never squashed")
}

func TestLayerLimitWithoutSquashStartsAfresh(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.LayerLimit = 4 },
		fake.WithCapabilities(runtime.CapCommit, runtime.CapLoad))
	base := e.imageLayers(baseRef)
	var afresh int
	for i := 1; i <= 10; i++ {
		res, _ := e.run(nil, job("w", "true"))
		if res.Reason == ReasonLayerLimit {
			afresh++
			require.False(t, res.Hit, "run %d: a layer-limit miss is a hit", i)
			require.Equal(t, baseRef, res.Image, "run %d: image of a layer-limit miss", i)
		}
		require.True(t, res.Commit.Committed, "run %d: commit missing: %+v", i, res.Commit)
		require.LessOrEqual(t, res.Commit.Layers, 4, "run %d: layers committed over the limit", i)
	}
	// base+1, ..., 4 layers, then afresh: every 4-base runs.
	per := 4 - base
	require.Equal(t, (10-1)/per, afresh, "times started afresh (base has %d layers)", base)
	assert.Equal(t, float64(afresh+1), e.core.Counters()[MetricMisses], "misses")
}

func (e *env) imageLayers(ref string) int {
	e.t.Helper()
	img, err := e.rt.InspectImage(context.Background(), ref)
	require.NoError(e.t, err)
	return img.Layers
}

func TestTwoHundredRunsKeepWorking(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fake.Option
	}{
		{"squash", nil},
		{"no-squash", []fake.Option{fake.WithCapabilities(runtime.CapCommit, runtime.CapLoad)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, tc.opts...)
			hits := 0
			for i := 1; i <= 200; i++ {
				res, _ := e.run(nil, job("w", "echo x >> /work/log"))
				require.Equal(t, 0, res.ExitCode, "run %d's exit code", i)
				require.True(t, res.Commit.Committed, "run %d not committed: %+v", i, res.Commit)
				require.LessOrEqual(t, res.Commit.Layers, DefaultLayerLimit, "run %d's layers", i)
				if res.Hit {
					hits++
				} else if i > 1 {
					require.Equal(t, ReasonLayerLimit, res.Reason, "run %d missed", i)
				}
			}
			require.GreaterOrEqual(t, hits, 197, "hits in 200 runs: reuse must go on")
			e.noContainers()
			imgs, _ := e.rt.ListImages(context.Background(), runtime.LabelFilter{LabelManagedBy: ManagedBy})
			assert.Len(t, imgs, 1, "managed images left (only the newest generation)")
		})
	}
}

func TestAwkwardIDsGetTheirOwnSnapshots(t *testing.T) {
	e := newEnv(t, nil)
	pairs := [][2]string{{"proj_1", "w"}, {"proj.1", "w"}, {"PROJ_1", "w"}, {"a-b", "c"}, {"a", "b-c"},
		{"日本語", "w"}, {"日本", "w"}, {strings.Repeat("p", 1000), strings.Repeat("w", 1000)},
		{strings.Repeat("p", 1000), strings.Repeat("w", 999) + "x"}}
	script := `cat /work/id; echo "$1" > /work/id`
	images := map[string]bool{}
	for _, p := range pairs {
		j := job(p[1], script)
		j.Project, j.Cmd = p[0], append(j.Cmd, "sh", p[0]+"|"+p[1])
		res, _ := e.run(nil, j)
		require.False(t, images[res.Commit.Image], "%q: image %s shared with another pair", p, res.Commit.Image)
		images[res.Commit.Image] = true
	}
	for _, p := range pairs {
		j := job(p[1], script)
		j.Project, j.Cmd = p[0], append(j.Cmd, "sh", p[0]+"|"+p[1])
		res, out := e.run(nil, j)
		require.True(t, res.Hit, "%.20q: a miss (%s); want its own snapshot", p, res.Reason)
		require.Equal(t, p[0]+"|"+p[1]+"\n", out, "%.20q: output (its own snapshot's)", p)
	}
}

func TestOnPhaseBracketsTheCommit(t *testing.T) {
	e := newEnv(t, nil)
	var phases []string
	j := job("w", "echo 1 > /work/v")
	j.OnPhase = func(p string) { phases = append(phases, p) }
	res, _ := e.run(nil, j)
	require.True(t, res.Commit.Committed, "not committed: %+v", res.Commit)
	require.Equal(t, []string{PhaseCommit, PhaseCleanup}, phases, "phases of a job that commits")
	phases = nil
	j = job("w", "exit 3")
	j.OnPhase = func(p string) { phases = append(phases, p) }
	e.run(nil, j)
	assert.Empty(t, phases, "phases of a job that commits nothing")
}

// TestAnUnchangedContainerMakesNoGeneration: on a runtime that can tell
// (CapDiff), a job whose container changed nothing on its file system is
// not committed ("unchanged"): a cold one leaves no snapshot, a warm one
// leaves its snapshot as it was, noted as used, and no image is made. A
// job that changes something after it commits the next generation.
func TestAnUnchangedContainerMakesNoGeneration(t *testing.T) {
	e := newEnv(t, nil, fake.WithCapabilities(fake.AllCapabilities...))
	ctx := context.Background()
	commits := e.rt.Calls(fake.OpCommit)

	res, _ := e.run(nil, job("w", "true"))
	assert.False(t, res.Commit.Committed, "a cold job that changed nothing: %+v", res.Commit)
	assert.Equal(t, NoCommitUnchanged, res.Commit.Reason)
	assert.False(t, e.entry("w").Found, "no snapshot for a cold job that changed nothing")

	res, _ = e.run(nil, job("w", "echo one > /work/f"))
	require.True(t, res.Commit.Committed, "a job that wrote a file: %+v", res.Commit)
	first := e.entry("w").Snapshot
	images, err := e.rt.ListImages(ctx, runtime.LabelFilter{LabelManagedBy: ManagedBy})
	require.NoError(t, err)

	e.clk.Advance(time.Hour)
	res, out := e.run(nil, job("w", "cat /work/f"))
	assert.True(t, res.Hit, "the next job runs from the snapshot")
	assert.Equal(t, "one\n", out)
	assert.False(t, res.Commit.Committed, "a warm job that only read: %+v", res.Commit)
	assert.Equal(t, NoCommitUnchanged, res.Commit.Reason)
	now := e.entry("w").Snapshot
	assert.Equal(t, first.Generation, now.Generation, "the generation stays")
	assert.Equal(t, first.ImageID, now.ImageID, "the image stays")
	assert.True(t, now.LastUsed.After(first.LastUsed), "the snapshot is noted as used: %v, then %v", first.LastUsed, now.LastUsed)
	again, err := e.rt.ListImages(ctx, runtime.LabelFilter{LabelManagedBy: ManagedBy})
	require.NoError(t, err)
	assert.Len(t, again, len(images), "no image made for an unchanged job")
	assert.Equal(t, commits+1, e.rt.Calls(fake.OpCommit), "one commit, of the job that wrote")

	res, _ = e.run(nil, job("w", "echo two >> /work/f"))
	assert.True(t, res.Commit.Committed, "a warm job that wrote: %+v", res.Commit)
	assert.Equal(t, first.Generation+1, res.Commit.Generation)
	e.noContainers()
}

// TestAChangeCheckThatFailsCommits: when the runtime cannot say whether
// the container changed, the job is committed (a false "unchanged" would
// lose work).
func TestAChangeCheckThatFailsCommits(t *testing.T) {
	e := newEnv(t, nil, fake.WithCapabilities(fake.AllCapabilities...))
	e.rt.FailNth(fake.OpChanged, e.rt.Calls(fake.OpChanged)+1, runtime.ErrUnavailable)
	res, _ := e.run(nil, job("w", "true"))
	assert.True(t, res.Commit.Committed, "committed when the check failed: %+v", res.Commit)
}
