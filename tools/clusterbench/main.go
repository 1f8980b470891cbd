// Command clusterbench is the cluster benchmark (issue 16): many berth hosts
// on one PostgreSQL database and one OCI registry run fake jobs on shared
// work items, and the run proves that no snapshot commit was lost or
// doubled. scripts/bench-cluster.sh runs it in full (20 processes, 5,000
// jobs over 500 work items; make bench-cluster), its test a short version.
//
//	clusterbench seed    -registry REPO
//	clusterbench worker  -store URL -registry REPO -state DIR -jobs N -items M [-seed S] [-concurrency 2] -out FILE
//	clusterbench check   -store URL -registry REPO -items M -procs N FILE...
//	clusterbench cleanup -store URL -registry REPO
//
// seed puts the base image's layer in the repository before the workers
// start (see seedRegistry: the registry's race it avoids).
//
// A worker is one host: a core.Core on a state directory of its own, with
// an in-memory fake runtime of its own (an engine of its own), the store
// URL and the registry repository shared by all. It runs its jobs a few at
// a time, each on a work item drawn at random; a job increments a counter
// in its work item's snapshot and prints the new value:
//
//	n=$(cat /work/n 2>/dev/null || echo 0); echo $((n+1)) > /work/n; echo $((n+1))
//
// then writes the work item's name in /work/item, so that no two work
// items have the same layer (-unique-layers=false leaves that out). The
// worker writes one JSON line per job (see record) to -out, then a last
// line with the host's counters. Its core's log (warnings and errors by
// default) is <state>/berth.log.
//
// check reads every worker's lines, prints the figures (wall time, jobs/s,
// berth's selection and bookkeeping per job, the lock wait, pulls and
// pushes) and the proof: for every work item, the values its jobs printed
// are exactly 1..k, each job's commit is the generation of its value,
// pushed, and the cluster's shared snapshot of the item (the table
// shared_snapshots) is generation k with the digest its last job pushed,
// which the registry has; no manifest of a replaced generation is left in
// the registry. It exits 1 on any violation, naming it.
//
// cleanup drops the cluster's schema (the search_path of the store URL) and
// every host's (<cluster>_<instance ID>), and deletes every manifest tagged
// in the registry repository; the registry frees the blobs only in its
// offline garbage collection (registry garbage-collect).
package main

import (
	"fmt"
	"os"
)

func main() {
	os.Exit(command(os.Args[1:]))
}

// command runs the subcommand args name and returns the exit code.
func command(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: clusterbench seed|worker|check|cleanup [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "worker":
		err = workerMain(args[1:])
	case "check":
		var ok bool
		ok, err = checkMain(args[1:], os.Stdout)
		if err == nil && !ok {
			return 1
		}
	case "cleanup":
		err = cleanupMain(args[1:], os.Stdout)
	case "seed":
		err = seedMain(args[1:], os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "clusterbench: unknown command %q (seed, worker, check, cleanup)\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "clusterbench %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
