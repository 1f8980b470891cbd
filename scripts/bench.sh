#!/usr/bin/env bash
# bench.sh: berth beside the engines' own commands, side by side in one run.
#
#   scripts/bench.sh [RUNTIME...]        # default: docker podman containerd
#   BENCH_N=9 scripts/bench.sh docker    # samples per figure (default 7)
#
# For each runtime it prints the median wall time of
#   - a trivial job: `berth run --no-snapshot -- true` vs `<engine> run --rm IMG true`
#   - a commit of a container that wrote 2,000 small files, and one that wrote
#     100 MB: berth's commit phase (from `berth run --json`) vs `<engine> commit`
#     of an identical container (containerd has no commit command: its figures
#     stand beside Docker's and Podman's).
# and the ratios berth/engine. Engines must be up (scripts/engines.sh); run `make build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
n="${BENCH_N:-7}"
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(docker podman containerd)
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
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
		$rt commit "$name" "berth-bench/commit:$name" >/dev/null
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

go run ./tools/mkimage -o "$state/base.tar" -ref "$img"
printf '%-11s %-28s %12s %12s %7s\n' runtime figure berth_ms engine_ms ratio
for rt in "${runtimes[@]}"; do
	berth images import --runtime "$rt" --ref "$img" "$state/base.tar" >/dev/null
	[ "$rt" = containerd ] && ctr -n berth-bench images import "$state/base.tar" >/dev/null
	a=() b=()
	for _ in $(seq "$n"); do # interleaved, so drift hits both sides alike
		t0=$(now); berth run --runtime "$rt" --image "$img" --no-snapshot -- true >/dev/null 2>&1; t1=$(now)
		engine_run "$rt" >/dev/null; t2=$(now)
		a+=($((t1 - t0))) b+=($((t2 - t1)))
	done
	ba=$(printf '%s\n' "${a[@]}" | median) bb=$(printf '%s\n' "${b[@]}" | median)
	printf '%-11s %-28s %12s %12s %7s\n' "$rt" "run true (whole command)" "$(ms "$ba")" "$(ms "$bb")" "$(ratio "$ba" "$bb")"
	for kind in files big; do
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
	case "$rt" in
	docker | podman) $rt rmi "$img" >/dev/null 2>&1 || true ;;
	containerd)
		ctr -n berth-bench images rm "docker.io/$img" >/dev/null 2>&1 || true
		ctr -n berth images rm "docker.io/$img" >/dev/null 2>&1 || true
		;;
	esac
	berth gc >/dev/null 2>&1 || true
done
