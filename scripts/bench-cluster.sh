#!/usr/bin/env bash
# bench-cluster.sh: the cluster benchmark (issue 16): berth processes, each a
# host of its own (a state directory and a fake runtime of its own), sharing
# one PostgreSQL database and one OCI registry, run fake jobs over shared
# work items; then the figures and the proof that no commit was lost or
# doubled (tools/clusterbench).
#
#   scripts/bench-cluster.sh                      # 20 processes, 5,000 jobs over 500 work items
#   BENCH_CLUSTER_PROCS=4 BENCH_CLUSTER_JOBS=200 BENCH_CLUSTER_ITEMS=20 scripts/bench-cluster.sh
#
#   BENCH_CLUSTER_PROCS        processes (hosts) at once (default 20)
#   BENCH_CLUSTER_JOBS         jobs in all, shared out between them (default 5000)
#   BENCH_CLUSTER_ITEMS        work items each job draws one of at random (default 500)
#   BENCH_CLUSTER_CONCURRENCY  jobs at a time in each process (default 2)
#   BENCH_CLUSTER_SEED         seed of the draw (default: the time)
#   BENCH_CLUSTER_KEEP=1       keep the records and logs (kept anyway when the run fails)
#   BENCH_CLUSTER_SHARED_LAYERS=1  the jobs write the counter only, so every work item's
#                              generation g has the same layer, and the registry is not
#                              seeded with the base image's layer: hosts then push the same
#                              new blob at once, which Distribution's registry fails now and
#                              then (MANIFEST_BLOB_UNKNOWN), and berth does not push again
#
# It builds the worker, starts PostgreSQL (scripts/postgres.sh) and the
# registry (scripts/registry.sh) if they are not running, takes a fresh
# schema (berth_bench_<random>, the cluster's; each host adds its own,
# <schema>_<instance ID>) and a fresh repository (<registry>/berth-bench-cluster/<random>),
# puts the base image's layer in it (clusterbench seed), launches the
# processes, which open their cores and then start together, waits for
# them, and prints the report of clusterbench check; it exits 1 when the
# proof fails. At the end it removes every process's state directory, drops
# the schemas and deletes the manifests left in the repository; the
# registry frees their blobs only in its offline garbage collection
# (docker-registry garbage-collect).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
procs=${BENCH_CLUSTER_PROCS:-20}
jobs=${BENCH_CLUSTER_JOBS:-5000}
items=${BENCH_CLUSTER_ITEMS:-500}
conc=${BENCH_CLUSTER_CONCURRENCY:-2}
seed=${BENCH_CLUSTER_SEED:-$(date +%s)}
unique=true
[ "${BENCH_CLUSTER_SHARED_LAYERS:-0}" = 1 ] && unique=false

say() { printf 'bench-cluster: %s\n' "$*" >&2; }
now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns/1e9}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

work=$(mktemp -d /tmp/berth-bench-cluster.XXXXXX)
mkdir -p "$work/state" "$work/records" "$work/logs" "$work/ready"
bench="$work/clusterbench"
store="" repo="" pids=() result=1
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ -n "$store" ] && [ -x "$bench" ]; then
		"$bench" cleanup -store "$store" -registry "$repo" >&2 || say "cleanup failed: drop schema ${schema}* and the repository $repo by hand"
	fi
	rm -rf "$work/state"
	if [ "$result" = 0 ] && [ "${BENCH_CLUSTER_KEEP:-0}" != 1 ]; then
		rm -rf "$work"
	else
		say "records and logs kept in $work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$bench" ./tools/clusterbench
pg=$(bash scripts/postgres.sh)
reg=$(bash scripts/registry.sh)
if [ -z "$pg" ] || [ -z "$reg" ]; then
	say "no PostgreSQL or no registry (scripts/postgres.sh and scripts/registry.sh install them as root on Debian)"
	exit 1
fi
id=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
schema=berth_bench_$id
case "$pg" in *\?*) store="$pg&search_path=$schema" ;; *) store="$pg?search_path=$schema" ;; esac
repo="$reg/berth-bench-cluster/$id"
if [ $unique = true ]; then
	"$bench" seed -registry "$repo" >&2
fi

say "$procs processes x $conc jobs at a time, $jobs jobs over $items work items, seed $seed; $(nproc) cores, load average $(load)"
say "PostgreSQL ${pg%%\?*} (schema $schema), registry $repo"
t0=$(now)
for p in $(seq 0 $((procs - 1))); do
	n=$((jobs / procs))
	[ "$p" -lt $((jobs % procs)) ] && n=$((n + 1))
	"$bench" worker -store "$store" -registry "$repo" -state "$work/state/$p" -proc "$p" -jobs "$n" \
		-items "$items" -concurrency "$conc" -seed "$seed" -unique-layers="$unique" \
		-out "$work/records/worker-$p.jsonl" -log "$work/logs/berth-$p.log" \
		-ready "$work/ready/$p" -go "$work/go" 2>"$work/logs/worker-$p.err" &
	pids+=($!)
done

# alive: how many workers still run.
alive() {
	local pid n=0
	for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
	echo $n
}
# Every core open, then all start at once.
while [ "$(find "$work/ready" -type f | wc -l)" -lt "$procs" ]; do
	if [ "$(alive)" -lt "$procs" ]; then
		say "a worker ended before its start:"
		tail -n 5 "$work"/logs/worker-*.err >&2
		exit 1
	fi
	if [ $(($(now) - t0)) -gt 300000000000 ]; then
		say "the workers' cores did not all open within 5 minutes"
		exit 1
	fi
	sleep 0.1
done
say "all $procs cores open after $(secs $(($(now) - t0))) s; go"
touch "$work/go"
t1=$(now)
last=$t1
while [ "$(alive)" -gt 0 ]; do
	sleep 1
	if [ $(($(now) - last)) -ge 30000000000 ]; then
		last=$(now)
		say "$(cat "$work"/records/*.jsonl | grep -c '"kind":"job"') of $jobs jobs done after $(secs $((last - t1))) s, load average $(load)"
	fi
done
failed=0
for p in "${!pids[@]}"; do
	if ! wait "${pids[$p]}"; then
		failed=1
		say "worker $p failed:"
		tail -n 5 "$work/logs/worker-$p.err" >&2
	fi
done
pids=()
say "all processes ended $(secs $(($(now) - t1))) s after the start; load average $(load)"

if "$bench" check -store "$store" -registry "$repo" -items "$items" -procs "$procs" -concurrency "$conc" "$work"/records/*.jsonl &&
	[ $failed = 0 ]; then
	result=0
fi
exit $result
