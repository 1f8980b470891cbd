package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/berth-dev/berth/runtime"
)

// checkConfig is what check needs besides the workers' records.
type checkConfig struct {
	store, registry    string
	items, procs, conc int
	files              []string
}

func checkMain(args []string, w io.Writer) (bool, error) {
	var cc checkConfig
	fs := flag.NewFlagSet("clusterbench check", flag.ContinueOnError)
	fs.StringVar(&cc.store, "store", "", "the cluster's PostgreSQL URL, as the workers had it; required")
	fs.StringVar(&cc.registry, "registry", "", "the registry repository, as the workers had it; required")
	fs.IntVar(&cc.items, "items", 0, "the work items the workers drew from; required")
	fs.IntVar(&cc.procs, "procs", 0, "the worker processes (each must have finished: its last line); required")
	fs.IntVar(&cc.conc, "concurrency", 0, "jobs at a time in each worker (for the report)")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	cc.files = fs.Args()
	if cc.store == "" || cc.registry == "" || cc.items <= 0 || cc.procs <= 0 || len(cc.files) == 0 {
		return false, errors.New("-store, -registry, -items, -procs and the workers' files are required")
	}
	rep, err := check(context.Background(), cc)
	if err != nil {
		return false, err
	}
	rep.print(w)
	return len(rep.Violations) == 0, nil
}

// report is what check found.
type report struct {
	Procs, Concurrency, Items int
	Jobs                      int // records of jobs
	ItemsUsed                 int // work items at least one job ran on
	Hosts                     int // workers that finished
	Wall                      time.Duration
	Open                      time.Duration // the slowest core.Open

	// Per job, in order of the records.
	Berth, Phases, Queue, Engine, Total []time.Duration
	Registry                            []time.Duration // the core's own registry requests
	Pull, Push                          []time.Duration // jobs that pulled, jobs that pushed

	Hits, Misses, Pulled, NeededPulls int
	Commits, Pushed                   int
	Counters                          map[string]float64 // summed over the hosts

	SharedRows        int // rows of shared_snapshots
	RegistryManifests int // manifests tagged in the repository after the run
	Stale             []string

	Violations []string // the proof's failures
}

func (r *report) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

// maxListed bounds the violations of one kind that are listed.
const maxListed = 20

// check reads the workers' records and proves, for every work item, that
// its jobs' values are 1..k, their commits generations 1..k, and the
// cluster's shared snapshot generation k, the last job's, in the registry.
func check(ctx context.Context, cc checkConfig) (*report, error) {
	var jobs []record
	hosts := map[int]record{}
	for _, f := range cc.files {
		recs, err := readRecords(f)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			switch r.Kind {
			case "job":
				jobs = append(jobs, r)
			case "host":
				hosts[r.Proc] = r
			default:
				return nil, fmt.Errorf("%s: a record of unknown kind %q", f, r.Kind)
			}
		}
	}
	rep, byItem, final := prove(cc, jobs, hosts)
	if err := checkShared(ctx, cc, rep, byItem, final); err != nil {
		return nil, err
	}
	if err := checkRegistry(ctx, cc, rep, final); err != nil {
		return nil, err
	}
	if got := int(rep.Counters["snapshot_pushes_total"]); got != rep.Pushed {
		rep.violate("the hosts counted %d pushes, their jobs report %d digests", got, rep.Pushed)
	}
	if got := int(rep.Counters["snapshot_pulls_total"]); got != rep.Pulled {
		rep.violate("the hosts counted %d pulls, their jobs report %d pulled", got, rep.Pulled)
	}
	return rep, nil
}

// prove reads the records of the jobs and the hosts: the figures, and the
// proof of the values and generations of each work item. It returns the
// jobs that ran by work item, and each work item's last job.
func prove(cc checkConfig, jobs []record, hosts map[int]record) (rep *report, byItem map[string][]record, final map[string]record) {
	rep = &report{Procs: cc.procs, Concurrency: cc.conc, Items: cc.items, Counters: map[string]float64{}}
	rep.Jobs, rep.Hosts = len(jobs), len(hosts)
	if rep.Hosts != cc.procs {
		rep.violate("%d of %d worker processes finished (wrote their last line); see their logs", rep.Hosts, cc.procs)
	}
	for _, h := range hosts {
		for k, v := range h.Counters {
			rep.Counters[k] += v
		}
		rep.Open = max(rep.Open, time.Duration(h.Open))
		ran := 0
		for _, j := range jobs {
			if j.Proc == h.Proc {
				ran++
			}
		}
		if ran != h.Jobs {
			rep.violate("process %d: %d job records of %d jobs", h.Proc, ran, h.Jobs)
		}
	}

	var first, last int64
	byItem = map[string][]record{}
	failed := 0
	for _, j := range jobs {
		if first == 0 || j.Began < first {
			first = j.Began
		}
		last = max(last, j.Ended)
		d := j.Durations
		rep.Total = append(rep.Total, d.Total)
		rep.Queue = append(rep.Queue, d.Queue)
		rep.Phases = append(rep.Phases, d.Select+d.Cleanup)
		rep.Engine = append(rep.Engine, time.Duration(j.Engine))
		rep.Registry = append(rep.Registry, time.Duration(j.Registry))
		rep.Berth = append(rep.Berth, d.Total-d.Queue-time.Duration(j.Engine)-time.Duration(j.Registry))
		if j.Pulled {
			rep.Pulled++
			rep.Pull = append(rep.Pull, time.Duration(j.Pull))
		}
		if j.Push > 0 {
			rep.Push = append(rep.Push, time.Duration(j.Push))
		}
		if j.Hit {
			rep.Hits++
		} else {
			rep.Misses++
		}
		if j.Committed {
			rep.Commits++
		}
		if j.Digest != "" {
			rep.Pushed++
		}
		if j.Err != "" || j.Value == 0 || j.ExitCode != 0 {
			if failed++; failed <= maxListed {
				rep.violate("%s: job %d of process %d did not run to a value: exit %d, err %q, output %q",
					j.Item, j.Seq, j.Proc, j.ExitCode, j.Err, j.Output)
			}
			continue
		}
		byItem[j.Item] = append(byItem[j.Item], j)
	}
	if failed > maxListed {
		rep.violate("... %d jobs in all did not run to a value", failed)
	}
	if first != 0 {
		rep.Wall = time.Duration(last - first)
	}

	// Each work item's values: 1..k, each once; each job's commit its
	// value's generation, pushed.
	final = map[string]record{} // each work item's job that printed k
	listed := 0
	note := func(format string, args ...any) {
		if listed++; listed <= maxListed {
			rep.violate(format, args...)
		}
	}
	for item, js := range byItem {
		sort.Slice(js, func(a, b int) bool { return js[a].Value < js[b].Value })
		k := len(js)
		for i, j := range js {
			switch {
			case i > 0 && j.Value == js[i-1].Value:
				p := js[i-1]
				note("%s: value %d printed twice (a commit lost): by process %d (host %s, job %d: %s) and process %d (host %s, job %d: %s)",
					item, j.Value, p.Proc, p.Host, p.Seq, describe(p), j.Proc, j.Host, j.Seq, describe(j))
			case j.Value > k:
				note("%s: value %d printed, but only %d jobs ran on it (a generation skipped or doubled): process %d, job %d: %s",
					item, j.Value, k, j.Proc, j.Seq, describe(j))
			}
			if !j.Committed || j.Generation != j.Value || j.Digest == "" || j.PushError != "" {
				note("%s: the job that printed %d (process %d, job %d) committed generation %d, pushed %q: %s",
					item, j.Value, j.Proc, j.Seq, j.Generation, j.Digest, describe(j))
			}
			if j.Value > 1 && i > 0 && js[i-1].Value == j.Value-1 && js[i-1].Host != j.Host {
				rep.NeededPulls++
			}
		}
		seen := map[int]bool{}
		for _, j := range js {
			seen[j.Value] = true
		}
		var gaps []string
		for v := 1; v <= k; v++ {
			if !seen[v] {
				gaps = append(gaps, fmt.Sprint(v))
			}
		}
		if len(gaps) > 0 {
			note("%s: %d jobs ran, but values %s never printed", item, k, strings.Join(gaps, ", "))
		}
		final[item] = js[k-1]
	}
	rep.ItemsUsed = len(byItem)
	if listed > maxListed {
		rep.violate("... %d violations of the values and generations in all", listed)
	}

	return rep, byItem, final
}

// describe is what a job's record says about its snapshot.
func describe(j record) string {
	s := fmt.Sprintf("hit %v, reason %s, pulled %v, committed %v", j.Hit, j.Reason, j.Pulled, j.Committed)
	if j.NoCommit != "" {
		s += " (" + j.NoCommit + ")"
	}
	if j.CommitErr != "" {
		s += ", commit error " + j.CommitErr
	}
	if j.PushError != "" {
		s += ", push error " + j.PushError
	}
	return s
}

// readRecords reads the JSON lines of a worker.
func readRecords(file string) ([]record, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// checkShared compares the cluster's table of shared snapshots with the
// jobs: one row per work item that ran, generation k, the digest of the job
// that printed k.
func checkShared(ctx context.Context, cc checkConfig, rep *report, byItem map[string][]record, final map[string]record) error {
	db, err := openDB(cc.store)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT work_item, generation, repository, digest FROM shared_snapshots WHERE project = $1", project)
	if err != nil {
		return fmt.Errorf("read shared_snapshots: %w", err)
	}
	defer rows.Close()
	type shared struct {
		gen          int
		repo, digest string
	}
	got := map[string]shared{}
	for rows.Next() {
		var item string
		var s shared
		if err := rows.Scan(&item, &s.gen, &s.repo, &s.digest); err != nil {
			return err
		}
		got[item] = s
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rep.SharedRows = len(got)
	listed := 0
	note := func(format string, args ...any) {
		if listed++; listed <= maxListed {
			rep.violate(format, args...)
		}
	}
	for i := range cc.items {
		item := itemName(i)
		s, ok := got[item]
		k := len(byItem[item])
		switch {
		case k == 0 && ok:
			note("%s: no job ran on it, yet its shared snapshot is generation %d", item, s.gen)
		case k == 0:
		case !ok:
			note("%s: %d jobs ran, but the cluster shares no snapshot of it", item, k)
		case s.gen != k:
			note("%s: %d jobs ran, but the shared snapshot is generation %d", item, k, s.gen)
		case s.digest != final[item].Digest || s.repo != cc.registry:
			note("%s: the shared snapshot is %s@%s, the last job pushed %s@%s", item, s.repo, s.digest, cc.registry, final[item].Digest)
		}
		delete(got, item)
	}
	for item := range got {
		note("%s: a shared snapshot of a work item no worker drew", item)
	}
	if listed > maxListed {
		rep.violate("... %d violations of the shared snapshots in all", listed)
	}
	return nil
}

// checkRegistry checks that each work item's last generation is in the
// registry, and notes the manifests left there of replaced generations.
func checkRegistry(ctx context.Context, cc checkConfig, rep *report, final map[string]record) error {
	present, err := registryManifests(ctx, cc.registry)
	if err != nil {
		return err
	}
	rep.RegistryManifests = len(present)
	want := map[string]bool{}
	missing := 0
	for item, j := range final {
		want[j.Digest] = true
		if present[j.Digest] {
			continue
		}
		// Untagged, maybe: ask for it by digest.
		ok, err := hasManifest(ctx, cc.registry, j.Digest)
		if err != nil {
			return err
		}
		if !ok {
			if missing++; missing <= maxListed {
				rep.violate("%s: its shared generation %d (%s) is not in the registry", item, j.Value, j.Digest)
			}
		}
	}
	for d := range present {
		if !want[d] {
			rep.Stale = append(rep.Stale, d)
		}
	}
	slices.Sort(rep.Stale)
	if len(rep.Stale) > 0 {
		rep.violate("registry: %d manifests of replaced generations left in %s (each commit should delete the generation it replaces; berth's logs say why not): %s",
			len(rep.Stale), cc.registry, strings.Join(rep.Stale[:min(len(rep.Stale), 5)], " "))
	}
	return nil
}

// repository parses the repository reference repo (plain HTTP on loopback).
func repository(repo string) (name.Repository, error) {
	var opts []name.Option
	if runtime.IsLoopbackRegistry(repo) {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(repo, opts...)
}

// registryManifests lists the digests the tags of repo name; none when the
// repository does not exist.
func registryManifests(ctx context.Context, repo string) (map[string]bool, error) {
	r, err := repository(repo)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, remote.WithContext(ctx))
	if notFound(err) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list the tags of %s: %w", repo, err)
	}
	present := map[string]bool{}
	for _, t := range tags {
		desc, err := remote.Head(r.Tag(t), remote.WithContext(ctx))
		if notFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%s: %w", repo, t, err)
		}
		present[desc.Digest.String()] = true
	}
	return present, nil
}

// hasManifest reports whether repo has the manifest digest.
func hasManifest(ctx context.Context, repo, digest string) (bool, error) {
	r, err := repository(repo)
	if err != nil {
		return false, err
	}
	_, err = remote.Head(r.Digest(digest), remote.WithContext(ctx))
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == 404
}

// openDB opens the PostgreSQL database of url, its search_path as given.
func openDB(url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store URL: %w", err)
	}
	return stdlib.OpenDB(*cfg), nil
}

// print writes the report.
func (r *report) print(w io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	conc := ""
	if r.Concurrency > 0 {
		conc = fmt.Sprintf(", %d at a time each", r.Concurrency)
	}
	fmt.Fprintf(w, "cluster benchmark: %d jobs by %d processes (hosts%s) over %d work items (%d drawn), fake runtime\n",
		r.Jobs, r.Procs, conc, r.Items, r.ItemsUsed)
	rate := 0.0
	if r.Wall > 0 {
		rate = float64(r.Jobs) / r.Wall.Seconds()
	}
	fmt.Fprintf(w, "wall time %.1f s (first job's start to last job's end), %.1f jobs/s; slowest core.Open %s ms\n",
		r.Wall.Seconds(), rate, ms(r.Open))
	fmt.Fprintf(w, "per job, ms                                      p50      p99      max\n")
	row := func(label string, ds []time.Duration) {
		if len(ds) == 0 {
			fmt.Fprintf(w, "  %-44s %8s %8s %8s\n", label, "-", "-", "-")
			return
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		fmt.Fprintf(w, "  %-44s %8s %8s %8s\n", label, ms(pct(s, 50)), ms(pct(s, 99)), ms(s[len(s)-1]))
	}
	row("selection and bookkeeping (berth's own) [1]", r.Berth)
	row("lock wait (Durations.Queue) [2]", r.Queue)
	row("Select + Cleanup phases [3]", r.Phases)
	row("in the runtime's calls (the fake's work) [4]", r.Engine)
	row(fmt.Sprintf("  of which pull (%d jobs)", len(r.Pull)), r.Pull)
	row(fmt.Sprintf("  of which push (%d jobs)", len(r.Push)), r.Push)
	row("the core's own registry requests [5]", r.Registry)
	row("total (Durations.Total)", r.Total)
	fmt.Fprintln(w, "  [1] Total - Queue - [4] - [5]: berth's store reads and writes, its choices, releasing its locks")
	fmt.Fprintln(w, "  [2] from Run to the job admitted: the work item's lock (this host's, then the cluster's in PostgreSQL) and the job's row")
	fmt.Fprintln(w, "  [3] the Result's phases: selection (state lookups, the pull when one is due) and clean-up (container and replaced image removed; the job's end record is in no phase)")
	fmt.Fprintln(w, "  [4] every call berth made to the fake for the job but Logs: inspect, create and start, wait, commit, push, pull, remove")
	fmt.Fprintln(w, "  [5] deleting the replaced generation's manifest (and the client's ping), request sent to first byte of the answer")
	c := r.Counters
	fmt.Fprintf(w, "snapshots: %d hits, %d misses; %d pulls (%d needed: the previous generation made on another host), %d pull failures\n",
		r.Hits, r.Misses, int(c["snapshot_pulls_total"]), r.NeededPulls, int(c["snapshot_pull_failures_total"]))
	fmt.Fprintf(w, "commits: %d, pushes %d, push failures %d\n", r.Commits, int(c["snapshot_pushes_total"]), int(c["snapshot_push_failures_total"]))
	fmt.Fprintf(w, "shared snapshots: %d rows; registry: %d manifests tagged", r.SharedRows, r.RegistryManifests)
	if len(r.Stale) == 0 {
		fmt.Fprintf(w, ", one per work item drawn (every replaced generation deleted)\n")
	} else {
		fmt.Fprintf(w, ", %d of them of replaced generations (left there)\n", len(r.Stale))
	}
	if len(r.Violations) == 0 {
		fmt.Fprintf(w, "proof: OK: for each of the %d work items drawn, its jobs printed exactly 1..k (k its jobs: no value repeated or skipped), "+
			"committed and pushed generations 1..k, and the cluster shares generation k, the last job's, in the registry\n", r.ItemsUsed)
		return
	}
	fmt.Fprintf(w, "proof: FAILED (%d):\n", len(r.Violations))
	for _, v := range r.Violations {
		fmt.Fprintf(w, "  FAIL %s\n", v)
	}
}

// pct is the p-th percentile (nearest rank) of sorted.
func pct(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted) + 99) / 100
	return sorted[max(i-1, 0)]
}
