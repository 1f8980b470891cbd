#!/usr/bin/env bash
# bench.sh: berth beside the engines' own commands, side by side in one run.
#
#   scripts/bench.sh [RUNTIME...]        # default: docker podman containerd
#   BENCH_N=9 scripts/bench.sh docker    # samples per figure (default 7)
#   BENCH_COMMITS=0 scripts/bench.sh     # the run figures only
#   scripts/bench.sh load [RUNTIME...]   # the daemon under load (default: fake docker)
#
# For each runtime it prints the median wall time of
#   - a trivial job: `berth run --no-snapshot -- true` in process, the same
#     command through a `berth serve` (--host; one daemon per runtime, started
#     here on a state directory of its own and stopped at the end), and
#     `<engine> run --rm IMG true`, the three interleaved; each berth figure
#     beside the engine's
#   - a commit of a container that wrote 2,000 small files, and one that wrote
#     100 MB: berth's commit phase (from `berth run --json`) vs `<engine> commit`
#     of an identical container (containerd has no commit command: its figures
#     stand beside Docker's and Podman's).
# and the ratios berth/engine. Engines must be up (scripts/engines.sh); run `make build` first.
#
# load starts a daemon per runtime and runs scripts/load against it (see its
# doc): BENCH_LOAD_BURST clients at once on the fake (default 200) and
# BENCH_LOAD_ENGINE on each engine (default 50), each creating a job,
# following its output and waiting for its end; then, on a fresh daemon on
# the fake, BENCH_LOAD_JOBS jobs in a row (default 5000) with the daemon's
# memory, goroutines and open files every BENCH_LOAD_AT jobs (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
n="${BENCH_N:-7}"
mode=compare
[ "${1:-}" = load ] && { mode=load; shift; }
runtimes=("$@")
if [ ${#runtimes[@]} = 0 ]; then
	runtimes=(docker podman containerd)
	[ $mode = load ] && runtimes=(fake docker)
fi
state=$(mktemp -d)
daemons=() # the berth serve processes started here
cleanup() {
	local pid
	for pid in "${daemons[@]}"; do stop_daemon "$pid"; done
	rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
berth() { bin/berth --state-dir "$state" --log-level error "$@"; }
img=berth-bench/base:latest
files='i=0; while [ $i -lt 2000 ]; do echo $i > /work/f$i; i=$((i+1)); done'
big='head -c 104857600 /dev/urandom > /work/big'

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns/1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

engine_run() { # runtime -> command line running `true` in a throwaway container
	case "$1" in
	docker) docker run --rm "$img" true ;;
	podman) podman run --rm "$img" true ;;
	containerd) ctr -n berth-bench run --rm "docker.io/$img" "bench-$RANDOM$RANDOM" true ;;
	esac
}

engine_commit() { # runtime script -> ns spent in the engine's commit of a container that ran script
	local rt=$1 script=$2 name="bench-$RANDOM$RANDOM" t0 t1
	case "$rt" in
	docker | podman)
		$rt run --name "$name" "$img" sh -c "$script" >/dev/null
		t0=$(now)
		$rt commit $([ "$rt" = podman ] && echo -q) "$name" "berth-bench/commit:$name" >/dev/null
		t1=$(now)
		$rt rm -f "$name" >/dev/null
		$rt rmi "berth-bench/commit:$name" >/dev/null
		echo $((t1 - t0))
		;;
	*) echo 0 ;;
	esac
}

berth_commit() { # runtime script -> ns of berth's commit phase for a fresh work item
	local item="bench-$RANDOM$RANDOM" out
	out=$(berth run --runtime "$1" --image "$img" --project bench --work-item "$item" --json -- sh -c "$2" 2>/dev/null)
	berth snapshots rm --project bench --work-item "$item" >/dev/null
	python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["durations"]["commit"]))' <<<"$out"
}

# start_daemon runtime dir: a berth serve on state directory dir (its socket
# dir/berth.sock), once it is ready; its PID in $daemon.
start_daemon() {
	local rt=$1 dir=$2
	mkdir -p "$dir"
	bin/berth --state-dir "$dir" --runtime "$rt" --log-level error serve --drain-timeout 10s >"$dir/serve.log" 2>&1 &
	daemon=$!
	daemons+=("$daemon")
	for _ in $(seq 300); do
		curl -sf --unix-socket "$dir/berth.sock" http://berth/readyz >/dev/null 2>&1 && return 0
		kill -0 "$daemon" 2>/dev/null || break
		sleep 0.1
	done
	echo "bench: berth serve on $rt did not get ready:" >&2
	cat "$dir/serve.log" >&2
	return 1
}

# stop_daemon pid: SIGTERM (it drains), then SIGKILL after 20s; reaped, and
# forgotten (its PID may be another process's afterwards).
stop_daemon() {
	local pid=$1 p keep=()
	for p in "${daemons[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	daemons=("${keep[@]}")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# remote: berth as a client of the daemon at socket $1.
remote() { local sock=$1; shift; bin/berth --host "unix://$sock" --log-level error "$@"; }

import_image() { # runtime [state dir]: the bench image into the runtime
	bin/berth --state-dir "${2:-$state}" --log-level error images import --runtime "$1" --ref "$img" "$state/base.tar" >/dev/null
	[ "$1" = containerd ] && ctr -n berth-bench images import "$state/base.tar" >/dev/null
	return 0
}

remove_image() { # runtime
	case "$1" in
	docker | podman) $1 rmi "$img" >/dev/null 2>&1 || true ;;
	containerd)
		ctr -n berth-bench images rm "docker.io/$img" >/dev/null 2>&1 || true
		ctr -n berth images rm "docker.io/$img" >/dev/null 2>&1 || true
		;;
	esac
}

go run ./tools/mkimage -o "$state/base.tar" -ref "$img"

if [ $mode = load ]; then
	go build -o "$state/load" ./scripts/load
	for rt in "${runtimes[@]}"; do
		dir="$state/serve-$rt"
		mkdir -p "$dir"
		import_image "$rt" "$dir"
		start_daemon "$rt" "$dir"
		burst=${BENCH_LOAD_ENGINE:-50}
		[ "$rt" = fake ] && burst=${BENCH_LOAD_BURST:-200}
		echo "== $rt: berth serve (pid $daemon)"
		"$state/load" -host "unix://$dir/berth.sock" -pid "$daemon" -runtime "$rt" -image "$img" burst -n "$burst"
		stop_daemon "$daemon"
		if [ "$rt" != fake ]; then # the engine's own command, as many at once, for reference
			t0=$(now) pids=()
			for _ in $(seq "$burst"); do
				engine_run "$rt" >/dev/null &
				pids+=($!)
			done
			wait "${pids[@]}"
			echo "  for reference, $burst of the engine's own run --rm true at once: all done after $(ms $(($(now) - t0))) ms"
		fi
		if [ "$rt" = fake ]; then
			dir="$state/serve-fake-soak"
			mkdir -p "$dir"
			import_image fake "$dir"
			start_daemon fake "$dir"
			echo "== fake: a fresh berth serve (pid $daemon)"
			"$state/load" -timeout 1h -host "unix://$dir/berth.sock" -pid "$daemon" -runtime fake -image "$img" \
				soak -n "${BENCH_LOAD_JOBS:-5000}" -at "${BENCH_LOAD_AT:-1000}"
			stop_daemon "$daemon"
		fi
		[ "$rt" = fake ] || remove_image "$rt"
	done
	exit 0
fi

printf '%-11s %-28s %12s %12s %7s\n' runtime figure berth_ms engine_ms ratio
for rt in "${runtimes[@]}"; do
	import_image "$rt"
	sock="$state/serve-$rt/berth.sock"
	start_daemon "$rt" "$state/serve-$rt"
	# One unmeasured round: the daemon's first job, the engine's caches.
	berth run --runtime "$rt" --image "$img" --no-snapshot -- true >/dev/null 2>&1
	remote "$sock" run --runtime "$rt" --image "$img" --no-snapshot -- true >/dev/null 2>&1
	engine_run "$rt" >/dev/null
	a=() d=() b=()
	for i in $(seq "$n"); do # interleaved, each first in turn, so drift and order hit every side alike
		for k in 0 1 2; do
			t0=$(now)
			case $(((i + k) % 3)) in
			0) berth run --runtime "$rt" --image "$img" --no-snapshot -- true >/dev/null 2>&1; a+=($(($(now) - t0))) ;;
			1) remote "$sock" run --runtime "$rt" --image "$img" --no-snapshot -- true >/dev/null 2>&1; d+=($(($(now) - t0))) ;;
			2) engine_run "$rt" >/dev/null; b+=($(($(now) - t0))) ;;
			esac
		done
	done
	stop_daemon "$daemon"
	ba=$(printf '%s\n' "${a[@]}" | median) bd=$(printf '%s\n' "${d[@]}" | median) bb=$(printf '%s\n' "${b[@]}" | median)
	printf '%-11s %-28s %12s %12s %7s\n' "$rt" "run true (whole command)" "$(ms "$ba")" "$(ms "$bb")" "$(ratio "$ba" "$bb")"
	printf '%-11s %-28s %12s %12s %7s\n' "$rt" "run true via berth serve" "$(ms "$bd")" "$(ms "$bb")" "$(ratio "$bd" "$bb")"
	[ "${BENCH_COMMITS:-1}" = 0 ] || for kind in files big; do
		script=${!kind}
		a=() b=()
		for _ in $(seq "$n"); do
			a+=("$(berth_commit "$rt" "$script")")
			b+=("$(engine_commit "$rt" "$script")")
		done
		ba=$(printf '%s\n' "${a[@]}" | median) bb=$(printf '%s\n' "${b[@]}" | median)
		label="commit 2,000 files"; [ "$kind" = big ] && label="commit 100 MB"
		if [ "$bb" = 0 ]; then
			printf '%-11s %-28s %12s %12s %7s\n' "$rt" "$label" "$(ms "$ba")" "-" "-"
		else
			printf '%-11s %-28s %12s %12s %7s\n' "$rt" "$label" "$(ms "$ba")" "$(ms "$bb")" "$(ratio "$ba" "$bb")"
		fi
	done
	remove_image "$rt"
	berth gc >/dev/null 2>&1 || true
done
