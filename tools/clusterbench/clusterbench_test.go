package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/berth-dev/berth/internal/testenv"
	"github.com/berth-dev/berth/runtime/runtimetest/drivertest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// workerEnv, set in a process of the test binary, makes it a clusterbench
// command (the test's workers: built as the test is, -race included).
const workerEnv = "BERTH_CLUSTERBENCH_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(command(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestCluster is the cluster benchmark's short version: 4 hosts (worker
// processes) on one PostgreSQL and one registry run 200 jobs over 20 work
// items, and every work item's values, generations and shared snapshot
// prove that no commit was lost or doubled. scripts/bench-cluster.sh runs
// the full one.
func TestCluster(t *testing.T) {
	pg := testenv.Postgres(t)
	reg := drivertest.Registry(t)
	const procs, jobs, items, concurrency = 4, 200, 20, 2

	b := make([]byte, 6)
	rand.Read(b)
	id := hex.EncodeToString(b)
	u, err := url.Parse(pg)
	require.NoError(t, err, "BERTH_TEST_POSTGRES")
	q := u.Query()
	q.Set("search_path", "berth_cb_"+id)
	u.RawQuery = q.Encode()
	store, repo := u.String(), reg+"/berth-clusterbench/"+id
	t.Cleanup(func() {
		var out bytes.Buffer
		if err := cleanupMain([]string{"-store", store, "-registry", repo}, &out); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		t.Log(strings.TrimSpace(out.String()))
	})

	require.NoError(t, seedRegistry(context.Background(), repo), "seed the registry")

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BERTH_CLUSTERBENCH_SEED"); s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "BERTH_CLUSTERBENCH_SEED")
	}
	t.Logf("seed %d (BERTH_CLUSTERBENCH_SEED=%d repeats the draw)", seed, seed)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	start := filepath.Join(dir, "go")
	var files []string
	type worker struct {
		cmd    *exec.Cmd
		stderr *bytes.Buffer
		done   chan error
	}
	var ws []worker
	for p := range procs {
		out := filepath.Join(dir, fmt.Sprintf("worker-%02d.jsonl", p))
		files = append(files, out)
		n := jobs / procs
		if p < jobs%procs {
			n++
		}
		cmd := exec.CommandContext(ctx, os.Args[0], "worker",
			"-store", store, "-registry", repo, "-state", filepath.Join(dir, fmt.Sprintf("state-%02d", p)),
			"-proc", strconv.Itoa(p), "-jobs", strconv.Itoa(n), "-items", strconv.Itoa(items),
			"-concurrency", strconv.Itoa(concurrency), "-seed", strconv.FormatUint(seed, 10),
			"-out", out, "-ready", filepath.Join(dir, fmt.Sprintf("ready-%02d", p)), "-go", start,
			"-wait", "3m")
		cmd.Env = append(os.Environ(), workerEnv+"=1")
		w := worker{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
		cmd.Stderr = w.stderr
		require.NoError(t, cmd.Start(), "start worker %d", p)
		go func() { w.done <- cmd.Wait() }()
		ws = append(ws, w)
	}
	// Once every host's core is open, they all start at once.
	require.Eventually(t, func() bool {
		for p := range procs {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("ready-%02d", p))); err != nil {
				return false
			}
		}
		return true
	}, 2*time.Minute, 10*time.Millisecond, "the workers' cores did not all open")
	require.NoError(t, os.WriteFile(start, nil, 0o644))
	for p, w := range ws {
		err := <-w.done
		require.NoError(t, err, "worker %d: %s", p, w.stderr.String())
	}

	rep, err := check(context.Background(), checkConfig{store: store, registry: repo, items: items, procs: procs,
		conc: concurrency, files: files})
	require.NoError(t, err, "check")
	var out bytes.Buffer
	rep.print(&out)
	t.Log("\n" + out.String())
	assert.Empty(t, rep.Violations, "the proof failed (seed %d); the hosts' logs are in %s/state-*/berth.log", seed, dir)
	assert.Equal(t, jobs, rep.Jobs, "jobs")
	assert.Equal(t, procs, rep.Hosts, "hosts that finished")
	assert.Equal(t, jobs, rep.Commits, "commits")
	assert.Equal(t, jobs, rep.Pushed, "pushes")
	assert.Equal(t, rep.ItemsUsed, rep.SharedRows, "shared snapshots")
	assert.Equal(t, rep.ItemsUsed, rep.RegistryManifests, "manifests in the registry")
	assert.Zero(t, rep.Counters["snapshot_pull_failures_total"], "pull failures")
	assert.Zero(t, rep.Counters["snapshot_push_failures_total"], "push failures")
	if t.Failed() {
		for p := range procs {
			if log, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("state-%02d", p), "berth.log")); err == nil && len(log) > 0 {
				t.Logf("worker %d's berth.log:\n%s", p, tail(string(log), 4000))
			}
		}
	}
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// TestPercentile: nearest rank.
func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	assert.Equal(t, time.Duration(50), pct(ds, 50))
	assert.Equal(t, time.Duration(99), pct(ds, 99))
	assert.Equal(t, time.Duration(1), pct(ds[:1], 99))
	assert.Equal(t, time.Duration(2), pct(ds[:3], 50))
}

// TestProveFindsViolations: the proof names a value printed twice (and
// the gap it leaves), a generation that is not its value, a job that did
// not run to a value, and a worker that did not finish.
func TestProveFindsViolations(t *testing.T) {
	jobs := []record{
		{Kind: "job", Proc: 0, Host: "a", Seq: 1, Item: itemName(0), Value: 1, Reason: "none", Committed: true, Generation: 1, Digest: "sha256:1"},
		{Kind: "job", Proc: 1, Host: "b", Seq: 1, Item: itemName(0), Value: 1, Reason: "pull-failed", Committed: true, Generation: 2, Digest: "sha256:2"},
		{Kind: "job", Proc: 0, Host: "a", Seq: 2, Item: itemName(1), Value: 1, Reason: "none", Committed: true, Generation: 1, Digest: "sha256:3"},
		{Kind: "job", Proc: 0, Host: "a", Seq: 3, Item: itemName(1), Err: "work item busy"},
	}
	hosts := map[int]record{0: {Kind: "host", Proc: 0, Host: "a", Jobs: 3}}
	rep, byItem, final := prove(checkConfig{items: 2, procs: 2}, jobs, hosts)
	all := strings.Join(rep.Violations, "\n")
	assert.Contains(t, all, "1 of 2 worker processes finished")
	assert.Contains(t, all, "item-0000: value 1 printed twice")
	assert.Contains(t, all, "reason pull-failed")
	assert.Contains(t, all, "item-0000: 2 jobs ran, but values 2 never printed")
	assert.Contains(t, all, "item-0000: the job that printed 1 (process 1, job 1) committed generation 2")
	assert.Contains(t, all, "item-0001: job 3 of process 0 did not run to a value")
	assert.Len(t, rep.Violations, 5, "violations:\n%s", all)
	assert.Len(t, byItem[itemName(1)], 1, "jobs that ran on item-0001")
	assert.Equal(t, "sha256:3", final[itemName(1)].Digest)

	ok := []record{
		{Kind: "job", Proc: 0, Host: "a", Seq: 1, Item: itemName(0), Value: 1, Committed: true, Generation: 1, Digest: "sha256:1"},
		{Kind: "job", Proc: 1, Host: "b", Seq: 1, Item: itemName(0), Value: 2, Hit: true, Pulled: true, Committed: true, Generation: 2, Digest: "sha256:2"},
	}
	rep, _, _ = prove(checkConfig{items: 1, procs: 2}, ok, map[int]record{0: {Kind: "host", Proc: 0, Jobs: 1}, 1: {Kind: "host", Proc: 1, Jobs: 1}})
	assert.Empty(t, rep.Violations)
	assert.Equal(t, 1, rep.NeededPulls)
}
