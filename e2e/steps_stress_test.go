package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lineID is a line a stress job writes: its round and number.
var lineID = regexp.MustCompile(`^r[0-9]+j[0-9]+$`)

// stressSize returns the number of berth processes started at once and the
// rounds of the stress steps: BERTH_STRESS_N (default 12 on the fake, 6 on
// an engine) and BERTH_STRESS_ROUNDS (default 2). scripts/stress.sh runs
// them larger, as a benchmark.
func stressSize(t *testing.T, e *env) (n, rounds int) {
	n, rounds = 6, 2
	if e.s.tg.module == "" {
		n = 12
	}
	for _, v := range []struct {
		name string
		to   *int
	}{{"BERTH_STRESS_N", &n}, {"BERTH_STRESS_ROUNDS", &rounds}} {
		if s := os.Getenv(v.name); s != "" {
			x, err := strconv.Atoi(s)
			require.True(t, err == nil && x >= 1, "%s=%q: want a number >= 1", v.name, s)
			*v.to = x
		}
	}
	return n, rounds
}

// stressOneItem (issue 17): many berth processes at once on one work item.
func stressOneItem(t *testing.T, e *env) { stress(t, e, 1) }

// stressThreeItems (issue 17): many berth processes at once over three
// work items.
func stressThreeItems(t *testing.T, e *env) { stress(t, e, 3) }

// stress starts n berth processes at once, round after round, spread over
// items work items; each job appends its own line to a file of its work
// item, starting from the snapshot the job before it left. Every job must
// end with exit code 0 and be committed; none may find its snapshot's image
// gone; once they are all done each work item's snapshot holds exactly one
// line per job run on it, and nothing is left behind: no container, no
// image the state does not record, nothing a gc would still remove.
func stress(t *testing.T, e *env, items int) {
	n, rounds := stressSize(t, e)
	item := func(i int) string { return fmt.Sprintf("item-stress-%d", i%items) }
	want := map[string][]string{}    // the lines each work item must hold: one per job that exited 0
	history := map[string][]string{} // what each job of a work item did, for the log
	var failures []string
	for round := 1; round <= rounds; round++ {
		type job struct {
			id  string
			res core.Result
			out output
			err error
		}
		jobs := make([]job, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range jobs {
			jobs[i].id = fmt.Sprintf("r%dj%d", round, i)
			wg.Add(1)
			go func(j *job, w string) {
				defer wg.Done()
				<-start
				j.out, j.err = e.exec(e.runArgs(w, []string{"--env", "E2E_ID=" + j.id},
					`echo "$E2E_ID" >> /work/lines; wc -l /work/lines`)...)
				if j.err == nil {
					j.err = json.Unmarshal([]byte(j.out.stdout), &j.res)
				}
			}(&jobs[i], item(i))
		}
		began := time.Now()
		close(start)
		wg.Wait()
		took := time.Since(began)
		for i, j := range jobs {
			seen, _, _ := strings.Cut(strings.TrimSpace(j.out.stderr), " ")
			history[item(i)] = append(history[item(i)], fmt.Sprintf("%s: exit %d, ran %s (hit %v, %s), saw %s lines, committed g%d %s; %+v",
				j.id, j.out.code, j.res.Image, j.res.Hit, j.res.Reason, seen, j.res.Commit.Generation, j.res.Commit.ImageID, j.res.Durations))
			if j.err == nil && j.out.code == 0 {
				want[item(i)] = append(want[item(i)], j.id) // a failed job may not have run: reported below
			}
			switch {
			case j.err != nil:
				failures = append(failures, fmt.Sprintf("job %s: %v: %v", j.id, j.err, j.out))
			case j.out.code != 0 || j.res.ExitCode != 0:
				failures = append(failures, fmt.Sprintf("job %s: %v", j.id, j.out))
			case j.res.Reason == core.ReasonImageGone:
				failures = append(failures, fmt.Sprintf("job %s: snapshot miss (%s): a snapshot's image was removed under it", j.id, j.res.Reason))
			case !j.res.Commit.Committed || j.res.Commit.Error != "":
				failures = append(failures, fmt.Sprintf("job %s: not committed: %+v", j.id, j.res.Commit))
			}
		}
		t.Logf("round %d: %d berth processes at once over %d work item(s) in %s, %d failed so far",
			round, n, items, took.Round(time.Millisecond), len(failures))
	}
	t.Logf("%d rounds of %d processes: %d jobs over %d work item(s)", rounds, n, rounds*n, items)
	assert.Empty(t, failures, "jobs that failed")

	// One more job per work item reads what the last snapshot holds.
	for w, lines := range want {
		res, out := e.run(w, nil, `cat /work/lines`)
		if !assert.True(t, out.code == 0 && res.Hit, "read the lines of %s: want exit code 0 and a hit, got hit %v (%s): %v", w, res.Hit, res.Reason, out) {
			continue
		}
		var got []string // with --json the job's output is on stderr, with berth's warnings if any
		for _, l := range strings.Split(out.stderr, "\n") {
			if lineID.MatchString(l) {
				got = append(got, l)
			}
		}
		slices.Sort(got)
		slices.Sort(lines)
		assert.Equal(t, lines, got, "the lines %s holds, one per job (%d); its jobs, in the order started:\n%s",
			w, len(lines), strings.Join(history[w], "\n"))
	}

	e.noContainers()
	snaps := e.snapshots()
	assert.Len(t, snaps, len(want), "snapshots: want one per work item")
	recorded := map[string]bool{}
	for _, s := range snaps {
		recorded[s.ImageID] = true
	}
	var unrecorded []string
	for _, img := range e.images() {
		if !recorded[img.ID] {
			unrecorded = append(unrecorded, fmt.Sprintf("%s %v %v", img.ID, img.Refs, img.Labels))
		}
	}
	assert.Empty(t, unrecorded, "images left that no snapshot records")
	rep := e.sweep("--dry-run", "--orphan-grace", "0s")
	assert.Zero(t, len(rep.DroppedEntries)+len(rep.AdoptedImages)+len(rep.RemovedImages)+len(rep.RemovedContainers)+len(rep.Evicted),
		"what gc --dry-run after the stress would still change: %+v", rep)
}
