package core

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/runtime/fake"
)

func TestNoCommitAfterFailure(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo 1 > /work/v"))
	res, _ := e.run(nil, job("w", "echo 2 > /work/v; exit 3"))
	if res.ExitCode != 3 || res.Commit.Committed || res.Commit.Reason != NoCommitExitCode {
		t.Fatalf("exit 3: %+v", res)
	}
	res, out := e.run(nil, job("w", "cat /work/v"))
	if !res.Hit || res.Image != first.Commit.Image || out != "1\n" {
		t.Fatalf("after a failed run: image %q out %q, want the first snapshot %q", res.Image, out, first.Commit.Image)
	}
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
		if err != nil {
			t.Fatalf("Run with timeout: %v (a timeout is no berth failure)", err)
		}
		if !res.TimedOut || res.ExitCode != tc.code || res.Commit.Committed || res.Commit.Reason != NoCommitTimeout {
			t.Fatalf("%q: timed out=%v exit=%d commit=%+v", tc.script, res.TimedOut, res.ExitCode, res.Commit)
		}
		e.noContainers()
	}
	if en := e.entry("w"); en.Found {
		t.Fatalf("snapshot stored after timeouts: %+v", en.Snapshot)
	}
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
	if !errors.Is(err, context.Canceled) || !res.Cancelled || res.Commit.Committed || res.Commit.Reason != NoCommitCancelled {
		t.Fatalf("cancelled job: err=%v cancelled=%v commit=%+v", err, res.Cancelled, res.Commit)
	}
	e.noContainers()
	if jobs, _ := e.core.st.Jobs(context.Background()); len(jobs) != 0 {
		t.Fatalf("job rows left: %+v", jobs)
	}
}

func TestSecretsNeverReachTheImage(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.NeverCommitEnv = []string{"DB_PASS"} })
	j := job("w", "env")
	j.Env = []string{"VISIBLE=yes", "DB_PASS=hunter2"}
	j.SecretEnv = []string{"API_TOKEN=s3cret"}
	res, out := e.run(nil, j)
	seen := envOf(out)
	if seen["VISIBLE"] != "yes" || seen["DB_PASS"] != "hunter2" || seen["API_TOKEN"] != "s3cret" {
		t.Fatalf("the job did not get its env: %v", seen)
	}
	img, err := e.rt.InspectImage(context.Background(), res.Commit.Image)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range img.Env {
		if strings.Contains(kv, "hunter2") || strings.Contains(kv, "s3cret") {
			t.Fatalf("committed image carries a secret: %q (env %q)", kv, img.Env)
		}
	}
	if !slices.Contains(img.Env, "VISIBLE=yes") {
		t.Fatalf("committed image lost plain env: %q", img.Env)
	}
	_, out = e.run(nil, job("w", "env"))
	if seen := envOf(out); seen["DB_PASS"] != "" || seen["API_TOKEN"] != "" {
		t.Fatalf("a later job on the snapshot sees secrets: %v", seen)
	}
}

func TestCommittedImageLabels(t *testing.T) {
	e := newEnv(t, nil)
	j := job("issue-7", "true")
	j.Project, j.Labels = "web", map[string]string{"team": "infra"}
	res, _ := e.run(nil, j)
	img, err := e.rt.InspectImage(context.Background(), res.Commit.Image)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		LabelManagedBy: "berth", LabelInstance: e.core.InstanceID(), LabelProject: "web",
		LabelWorkItem: "issue-7", LabelGeneration: "1", LabelBaseImage: baseRef, LabelJob: res.JobID, "team": "infra",
		LabelRuntime: "fake",
	}
	for k, v := range want {
		if img.Labels[k] != v {
			t.Fatalf("label %s = %q, want %q (labels %v)", k, img.Labels[k], v, img.Labels)
		}
	}
	if res.Commit.ImageID != img.ID || !slices.Contains(img.Refs, res.Commit.Image) {
		t.Fatalf("result %+v does not name the image %+v", res.Commit, img)
	}
}

func TestCommitFailureNeverFailsTheJob(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "echo 1 > /work/v"))
	e.rt.FailNth(fake.OpCommit, e.rt.Calls(fake.OpCommit)+1, runtime.ErrUnavailable)
	res, err := e.core.Run(context.Background(), job("w", "echo 2 > /work/v"))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("commit failure failed the job: %v, exit %d", err, res.ExitCode)
	}
	if res.Commit.Committed || res.Commit.Error == "" {
		t.Fatalf("commit failure not reported: %+v", res.Commit)
	}
	if got := e.core.Counters()[MetricCommitFailures]; got != 1 {
		t.Fatalf("commit failures counted %v, want 1", got)
	}
	res, out := e.run(nil, job("w", "cat /work/v"))
	if res.Image != first.Commit.Image || out != "1\n" {
		t.Fatalf("after a failed commit: %q / %q, want the previous snapshot", res.Image, out)
	}
	e.noContainers()
}

func TestNewGenerationReplacesOld(t *testing.T) {
	e := newEnv(t, nil)
	var refs []string
	for i := 1; i <= 3; i++ {
		res, _ := e.run(nil, job("w", "true"))
		if res.Commit.Generation != i || !strings.HasSuffix(res.Commit.Image, ":g"+strconv.Itoa(i)) {
			t.Fatalf("run %d: %+v", i, res.Commit)
		}
		refs = append(refs, res.Commit.Image)
	}
	for _, old := range refs[:2] {
		if e.imageExists(old) {
			t.Fatalf("old generation %s still exists", old)
		}
	}
	if !e.imageExists(refs[2]) {
		t.Fatal("newest generation missing")
	}
}

func TestOldGenerationInUseIsLeftForTheSweep(t *testing.T) {
	e := newEnv(t, nil)
	first, _ := e.run(nil, job("w", "true"))
	e.rt.FailNth(fake.OpRemoveImage, e.rt.Calls(fake.OpRemoveImage)+1, runtime.ErrConflict)
	second, err := e.core.Run(context.Background(), job("w", "true"))
	if err != nil || !second.Commit.Committed {
		t.Fatalf("an old image in use failed the job: %v %+v", err, second.Commit)
	}
	if !e.imageExists(first.Commit.ImageID) {
		t.Fatal("old generation removed despite the conflict (test setup broken)")
	}
	rep, err := e.core.Sweep(context.Background(), SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.RemovedImages, first.Commit.Image) || e.imageExists(first.Commit.ImageID) {
		t.Fatalf("the sweep did not remove the dangling generation: %+v", rep)
	}
	if !e.imageExists(second.Commit.Image) {
		t.Fatal("the sweep removed the current generation")
	}
}

func TestLayerLimitSquashes(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Policy.LayerLimit = 4 })
	var squashed bool
	for i := 1; i <= 8; i++ {
		res, out := e.run(nil, job("w", "cat /work/log; echo x >> /work/log"))
		if i > 1 && (!res.Hit || out != strings.Repeat("x\n", i-1)) {
			t.Fatalf("run %d: hit=%v %q out=%q; squashing must keep reusing", i, res.Hit, res.Reason, out)
		}
		if res.Commit.Layers > 4 || e.imageLayers(res.Commit.Image) > 4 {
			t.Fatalf("run %d: %d layers over the limit 4", i, res.Commit.Layers)
		}
		squashed = squashed || res.Commit.Squashed
	}
	if !squashed {
		t.Fatal("never squashed")
	}
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
			if res.Hit || res.Image != baseRef {
				t.Fatalf("run %d: layer-limit miss ran on %q", i, res.Image)
			}
		}
		if res.Commit.Layers > 4 || !res.Commit.Committed {
			t.Fatalf("run %d: commit %+v over the limit or missing", i, res.Commit)
		}
	}
	// base+1, ..., 4 layers, then afresh: every 4-base runs.
	if per := 4 - base; afresh != (10-1)/per {
		t.Fatalf("started afresh %d times, want %d (base has %d layers)", afresh, (10-1)/per, base)
	}
	if got := e.core.Counters()[MetricMisses]; got != float64(afresh+1) {
		t.Fatalf("misses %v, want %d", got, afresh+1)
	}
}

func (e *env) imageLayers(ref string) int {
	e.t.Helper()
	img, err := e.rt.InspectImage(context.Background(), ref)
	if err != nil {
		e.t.Fatal(err)
	}
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
				if res.ExitCode != 0 || !res.Commit.Committed || res.Commit.Layers > DefaultLayerLimit {
					t.Fatalf("run %d: exit %d commit %+v", i, res.ExitCode, res.Commit)
				}
				if res.Hit {
					hits++
				} else if i > 1 && res.Reason != ReasonLayerLimit {
					t.Fatalf("run %d missed: %q", i, res.Reason)
				}
			}
			if hits < 197 {
				t.Fatalf("%d hits in 200 runs: reuse must go on", hits)
			}
			e.noContainers()
			imgs, _ := e.rt.ListImages(context.Background(), runtime.LabelFilter{LabelManagedBy: ManagedBy})
			if len(imgs) != 1 {
				t.Fatalf("%d managed images left, want only the newest generation", len(imgs))
			}
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
		if images[res.Commit.Image] {
			t.Fatalf("%q: image %s shared with another pair", p, res.Commit.Image)
		}
		images[res.Commit.Image] = true
	}
	for _, p := range pairs {
		j := job(p[1], script)
		j.Project, j.Cmd = p[0], append(j.Cmd, "sh", p[0]+"|"+p[1])
		if res, out := e.run(nil, j); !res.Hit || out != p[0]+"|"+p[1]+"\n" {
			t.Fatalf("%.20q: hit=%v saw %.40q; want its own snapshot", p, res.Hit, out)
		}
	}
}

func TestOnPhaseBracketsTheCommit(t *testing.T) {
	e := newEnv(t, nil)
	var phases []string
	j := job("w", "echo 1 > /work/v")
	j.OnPhase = func(p string) { phases = append(phases, p) }
	res, _ := e.run(nil, j)
	if !res.Commit.Committed || strings.Join(phases, ",") != PhaseCommit+","+PhaseCleanup {
		t.Fatalf("committed %v, phases %q: want commit then cleanup", res.Commit.Committed, phases)
	}
	phases = nil
	j = job("w", "exit 3")
	j.OnPhase = func(p string) { phases = append(phases, p) }
	e.run(nil, j)
	if len(phases) != 0 {
		t.Fatalf("phases %q for a job that commits nothing: want none", phases)
	}
}
