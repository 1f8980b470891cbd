#!/usr/bin/env bash
# bench-real.sh: a real workload (issue 14). A Debian base image made from
# Debian's own packages, a real build and test of berth's own source, cold and
# then warm from the work item's snapshot, on each engine side by side.
#
#   make bench-real                                  # docker podman containerd, 50 generations
#   BENCH_REAL_RUNTIMES=docker BENCH_REAL_GENERATIONS=10 make bench-real
#   make bench-real-ci                               # CI's short version (BENCH_REAL_CI=1)
#
# The base image:
#   - a root file system tarball made by mmdebstrap (Debian bookworm, variant
#     minbase, plus BENCH_REAL_PACKAGES, default build-essential, git and
#     ca-certificates) with this machine's Go toolchain copied in at
#     /usr/local/go (bookworm's golang-go is Go 1.19, too old for berth's
#     go.mod) and Go's telemetry off. It is kept in BENCH_REAL_CACHE (default
#     ~/.cache/berth-bench), keyed by the suite, mirror, packages and Go
#     version, so reruns do not build it again;
#   - a second layer with berth's source at HEAD (git archive) and its
#     modules vendored (go mod vendor, in a temporary copy) at /src;
#   - put together by tools/mkimage -rootfs and loaded with berth images import.
# The job runs in /src with GOFLAGS=-mod=vendor and GOCACHE=/root/.cache/go-build,
# so the build cache stays in the container and the warm run finds it in its
# snapshot:
#   cold  go build ./... && go test (five packages), on the base image
#   warm  the same command on the same work item (a snapshot hit)
#   edit  an agent's next step: one file of cmd/berth changed, then the same
#         command; run until the snapshot has BENCH_REAL_GENERATIONS generations
# It prints, per runtime: the cold and warm jobs' run, commit and total times
# (berth run --json), cold/warm of the totals (the issue's target: >= 10),
# the snapshot's size and layers after 1, 10 and BENCH_REAL_GENERATIONS
# generations (berth snapshots ls --json), and that last snapshot's size
# beside the same state committed once: the snapshot's file system exported
# (docker/podman export, ctr images mount), imported as one layer, and
# committed once (each with a marker file, so that every figure comes from
# the same snapshots ls).
#
# BENCH_REAL_CI=1: Docker only (BENCH_REAL_RUNTIMES to change), a smaller
# image (ca-certificates only: no C compiler, so the Go build is pure Go) and
# job (runtime/archive built and tested), no generations, nothing cached (the
# rootfs is built in the temporary directory); it fails unless both jobs exit
# 0, the cold one commits and the warm one is a snapshot hit.
#
# Other knobs: BENCH_REAL_SUITE (bookworm), BENCH_REAL_MIRROR
# (http://deb.debian.org/debian), BENCH_REAL_PACKAGES, BENCH_REAL_WORK (the
# job's bash command, run in /src), BENCH_REAL_OUT (a directory to keep the
# jobs' berth run --json results and output in). Engines must be up
# (scripts/engines.sh); run make build first (make bench-real does). Everything
# it makes (containers, images, snapshots, files) is removed at the end, also
# on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
repo=$PWD

ci=${BENCH_REAL_CI:-0}
default_runtimes="docker podman containerd"
[ "$ci" = 1 ] && default_runtimes=docker
read -r -a runtimes <<<"${BENCH_REAL_RUNTIMES:-$default_runtimes}"
gens=${BENCH_REAL_GENERATIONS:-50}
suite=${BENCH_REAL_SUITE:-bookworm}
mirror=${BENCH_REAL_MIRROR:-http://deb.debian.org/debian}
default_packages=build-essential,git,ca-certificates
[ "$ci" = 1 ] && default_packages=ca-certificates # no C compiler: the Go build is pure Go, and quicker
packages=${BENCH_REAL_PACKAGES:-$default_packages}
rev=$(git rev-parse HEAD)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-real.XXXXXX")
cache=${BENCH_REAL_CACHE:-$HOME/.cache/berth-bench}
[ "$ci" = 1 ] && [ -z "${BENCH_REAL_CACHE:-}" ] && cache=$tmp/cache
state=$tmp/state
log=$tmp/jobs.log
img=berth-bench-real/base-$$:latest
project=bench-real
mkdir -p "$state" "$cache"

say() { printf 'bench-real: %s\n' "$*" >&2; }

# --- cleanup, also on Ctrl-C -------------------------------------------------

child=''     # the berth process running now, in a session of its own
exportctr='' # "engine container" of an export under way
mounted=''   # an image containerd has mounted here
imported=()  # runtime=ref of every image loaded here
cleanup() {
	local rc=$? e rt ref item
	trap '' INT TERM
	[ "$rc" = 130 ] && say "interrupted: removing what the bench made"
	if [ -n "$child" ]; then # one signal: berth cleans up its job, a second would not let it
		kill -INT "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	[ -z "$exportctr" ] || ${exportctr% *} rm -f "${exportctr#* }" >/dev/null 2>&1 || true
	[ -z "$mounted" ] || ctr -n berth images unmount --rm "$mounted" >/dev/null 2>&1 || true
	if [ -x bin/berth ] && [ -d "$state" ]; then
		# snapshots rm removes a work item's snapshots on every runtime.
		bin/berth --state-dir "$state" --log-level error snapshots ls --json 2>/dev/null |
			jq -r '.[] | "\(.project) \(.work_item)"' 2>/dev/null | sort -u |
			while read -r p item; do
				bin/berth --state-dir "$state" --log-level error snapshots rm --project "$p" --work-item "$item" >/dev/null 2>&1 ||
					say "could not remove the snapshots of $p/$item"
			done
		for e in "${imported[@]}"; do
			rt=${e%%=*} ref=${e#*=}
			case "$rt" in
			docker | podman) "$rt" rmi "$ref" >/dev/null 2>&1 || say "could not remove $rt image $ref" ;;
			containerd) ctr -n berth images rm "docker.io/$ref" >/dev/null 2>&1 || say "could not remove containerd image $ref" ;;
			esac
		done
		for rt in "${runtimes[@]}"; do
			bin/berth --state-dir "$state" --log-level error gc --runtime "$rt" >/dev/null 2>&1 || true
		done
	fi
	if [ -n "${BENCH_REAL_OUT:-}" ]; then
		mkdir -p "$BENCH_REAL_OUT"
		cp "$tmp"/*.json "$tmp"/*.totals "$log" "$BENCH_REAL_OUT/" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what it needs -------------------------------------------------------------

need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		say "needs ${need[*]} (apt-get install ${need[*]}), and root for mmdebstrap"
		exit 1
	fi
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >"$tmp/apt.log" 2>&1 ||
		{ apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >"$tmp/apt.log" 2>&1; } ||
		{ cat "$tmp/apt.log" >&2; exit 1; }
fi
[ -x bin/berth ] || { say "run make build first"; exit 1; }

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN {printf "%.1f", ns/1e9}'; }

# --- the base image ------------------------------------------------------------

goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
recipe=1 # bump when the hooks below change
key=$(printf '%s\n' "$recipe" "$suite" "$mirror" "$packages" "$gover" | sha256sum | cut -c1-16)
rootfs=$cache/rootfs-$suite-$gover-$key.tar
if [ -f "$rootfs" ]; then
	say "rootfs: $rootfs (cached)"
else
	say "rootfs: mmdebstrap $suite minbase + $packages + $gover (once; kept in $cache)"
	t0=$(now)
	part=$(mktemp "$cache/.rootfs-XXXXXX.tar")
	if ! TMPDIR=$tmp mmdebstrap --variant=minbase --include="$packages" \
		--customize-hook="mkdir -p \"\$1/usr/local\" && cp -a '$goroot' \"\$1/usr/local/go\"" \
		--customize-hook='chroot "$1" env HOME=/root /usr/local/go/bin/go telemetry off' \
		--customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
		"$suite" "$part" "$mirror" </dev/null >"$tmp/mmdebstrap.log" 2>&1; then
		cat "$tmp/mmdebstrap.log" >&2
		rm -f "$part"
		exit 1
	fi
	mv "$part" "$rootfs"
	say "rootfs: built in $(secs $(($(now) - t0))) s, $(du -m "$rootfs" | cut -f1) MB"
fi

say "source: berth at ${rev:0:7}, modules vendored"
mkdir -p "$tmp/srclayer"
git archive --format=tar --prefix=src/ "$rev" | tar -x -C "$tmp/srclayer"
(cd "$tmp/srclayer/src" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod vendor)
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$tmp/srclayer" -cf "$tmp/src.tar" src
rm -rf "$tmp/srclayer"

imgenv=(
	-env PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	-env HOME=/root -env GOCACHE=/root/.cache/go-build -env GOFLAGS=-mod=vendor
	-env GOTOOLCHAIN=local -env GOPROXY=off
)
go build -o "$tmp/mkimage" ./tools/mkimage
"$tmp/mkimage" -rootfs "$rootfs" -rootfs "$tmp/src.tar" "${imgenv[@]}" -workdir /src -cmd /bin/bash -ref "$img" -o "$tmp/base.tar"
rm -f "$tmp/src.tar"
say "image: $img, $(du -m "$tmp/base.tar" | cut -f1) MB"

# --- berth ---------------------------------------------------------------------

berth() { bin/berth --state-dir "$state" --log-level error "$@"; }

# bg: run berth "$@" in a session of its own (a Ctrl-C reaches it once, from
# the trap, never from the terminal too) and wait for it; its exit code in rc.
bg() {
	setsid bin/berth --state-dir "$state" --log-level error "$@" &
	child=$!
	rc=0
	wait "$child" || rc=$?
	child=''
}

import() { # runtime ref file
	local out
	out=$(berth images import --runtime "$1" --ref "$2" "$3")
	imported+=("$1=$2")
	say "$1: $out"
}

# job runtime item image out script: berth run --json of script in bash, its
# result in out, the job's output appended to the log; rc is its exit code.
# A job berth itself failed to run (125: an engine that refused a start, say)
# is tried once more, and counted in retries.
retries=0
job() {
	local rt=$1 item=$2 image=$3 out=$4 script=$5 try
	for try in 1 2; do
		echo "== $rt $item: $script" >>"$log"
		bg run --runtime "$rt" --image "$image" --project "$project" --work-item "$item" \
			--timeout 30m --json -- bash -c "$script" >"$out" 2>>"$log"
		[ "$rc" = 125 ] && [ "$try" = 1 ] || return 0
		retries=$((retries + 1))
		say "$rt: berth failed to run the job ($(tail -n1 "$log")); once more"
	done
}

field() { jq -r "$2" "$1"; }            # file filter
dur() { jq -r ".durations.$2" "$1"; }   # file phase -> ns
snap() {                                # runtime item -> "size_bytes layers generation"
	berth snapshots ls --project "$project" --json |
		jq -r --arg rt "$1" --arg item "$2" '.[] | select(.runtime == $rt and .work_item == $item) | "\(.size_bytes) \(.layers) \(.generation)"'
}
fail() {
	say "FAIL: $*"
	say "last lines of the jobs' output:"
	tail -n 40 "$log" >&2
	exit 1
}

if [ "$ci" = 1 ]; then
	pkgs='./runtime/archive/'
	work="go build $pkgs && go test $pkgs"
else
	pkgs='./runtime/archive/ ./core/internal/store/ ./runtime/fake/ ./runtime/ ./cmd/berth/internal/config/'
	work="go build ./... && go test $pkgs"
fi
work=${BENCH_REAL_WORK:-$work}
edit='printf "package main\n\nconst benchGeneration = %s\n" "$(date +%s%N)" > cmd/berth/zz_bench_generation.go'
item=real

for rt in "${runtimes[@]}"; do
	import "$rt" "$img" "$tmp/base.tar"
done
rm -f "$tmp/base.tar"

# Phases interleaved across the runtimes, so that the machine's load hits
# each alike.
declare -A cold warm g1 g10 gN editmed
for rt in "${runtimes[@]}"; do
	say "$rt: cold: $work"
	job "$rt" "$item" "$img" "$tmp/$rt-cold.json" "$work"
	[ "$rc" = 0 ] || fail "$rt: the cold job exited $rc"
	[ "$(field "$tmp/$rt-cold.json" .commit.committed)" = true ] || fail "$rt: the cold job was not committed: $(field "$tmp/$rt-cold.json" .commit)"
	g1[$rt]=$(snap "$rt" "$item")
done
for rt in "${runtimes[@]}"; do
	say "$rt: warm: the same command"
	job "$rt" "$item" "$img" "$tmp/$rt-warm.json" "$work"
	[ "$rc" = 0 ] || fail "$rt: the warm job exited $rc"
	[ "$(field "$tmp/$rt-warm.json" .snapshot_hit)" = true ] || fail "$rt: the warm job was no snapshot hit: $(field "$tmp/$rt-warm.json" .snapshot_reason)"
done
# What the unchanged check saves: the warm job again with one file written
# after the work, so that it changes the container and is committed.
if [ "$ci" != 1 ]; then
	for rt in "${runtimes[@]}"; do
		say "$rt: warm with one file written (committed)"
		job "$rt" "$item" "$img" "$tmp/$rt-touch.json" "$work && date +%s%N > /root/.bench-touched"
		[ "$rc" = 0 ] || fail "$rt: the warm job with one file written exited $rc"
		[ "$(field "$tmp/$rt-touch.json" .commit.committed)" = true ] || fail "$rt: the warm job with one file written was not committed: $(field "$tmp/$rt-touch.json" .commit)"
	done
fi

if [ "$ci" != 1 ] && [ "$gens" -gt 1 ]; then
	for target in 10 "$gens"; do
		[ "$target" -le "$gens" ] || continue
		for rt in "${runtimes[@]}"; do
			say "$rt: edit jobs up to generation $target"
			while :; do
				read -r _ _ g <<<"$(snap "$rt" "$item")"
				[ "${g:-0}" -lt "$target" ] || break
				job "$rt" "$item" "$img" "$tmp/$rt-edit.json" "$edit && $work"
				[ "$rc" = 0 ] || fail "$rt: an edit job exited $rc"
				[ "$(field "$tmp/$rt-edit.json" .commit.committed)" = true ] || fail "$rt: an edit job was not committed: $(field "$tmp/$rt-edit.json" .commit)"
				dur "$tmp/$rt-edit.json" total >>"$tmp/$rt-edit.totals"
			done
			if [ "$target" = 10 ]; then g10[$rt]=$(snap "$rt" "$item"); fi
			if [ "$target" = "$gens" ]; then gN[$rt]=$(snap "$rt" "$item"); fi
		done
	done
fi

# The last snapshot beside the same state committed once: its file system
# exported with the engine's own tools (a job's output is no way out for a
# tar: Docker's and Podman's logs, which berth follows, are not binary-safe),
# made into a one-layer image, imported and committed once with a marker
# file; the base image committed once with the same marker, for the growth
# above the base.
declare -A flat base
export_rootfs() { # runtime image file: the image's file system as a tar
	local rt=$1 image=$2 out=$3 ref
	case "$rt" in
	docker | podman)
		exportctr="$rt $("$rt" create "$image" /bin/true)"
		"$rt" export "${exportctr#* }" >"$out"
		"$rt" rm "${exportctr#* }" >/dev/null
		exportctr=''
		;;
	containerd)
		ref=$(ctr -n berth images ls -q | grep -x -e "docker.io/$image" -e "$image" | head -n1)
		mkdir -p "$tmp/mnt"
		mounted=$tmp/mnt
		ctr -n berth images mount "$ref" "$tmp/mnt" >/dev/null
		tar --numeric-owner -C "$tmp/mnt" -cf "$out" .
		ctr -n berth images unmount --rm "$tmp/mnt" >/dev/null
		mounted=''
		;;
	esac
}
if [ "$ci" != 1 ] && [ "$gens" -gt 1 ]; then
	marker='echo bench > /.berth-bench-marker'
	for rt in "${runtimes[@]}"; do
		image=$(berth snapshots ls --project "$project" --json | jq -r --arg rt "$rt" --arg item "$item" '.[] | select(.runtime == $rt and .work_item == $item) | .image')
		say "$rt: the same state committed once (export $image)"
		export_rootfs "$rt" "$image" "$tmp/flat.tar"
		"$tmp/mkimage" -rootfs "$tmp/flat.tar" "${imgenv[@]}" -workdir /src -cmd /bin/bash -ref "berth-bench-real/flat-$$:$rt" -o "$tmp/flat-image.tar"
		rm -f "$tmp/flat.tar"
		import "$rt" "berth-bench-real/flat-$$:$rt" "$tmp/flat-image.tar"
		rm -f "$tmp/flat-image.tar"
		job "$rt" "flat" "berth-bench-real/flat-$$:$rt" "$tmp/$rt-flat.json" "$marker"
		[ "$rc" = 0 ] || fail "$rt: the flat marker job exited $rc"
		flat[$rt]=$(snap "$rt" flat)
		job "$rt" "base" "$img" "$tmp/$rt-base.json" "$marker"
		[ "$rc" = 0 ] || fail "$rt: the base marker job exited $rc"
		base[$rt]=$(snap "$rt" base)
	done
fi

# --- report --------------------------------------------------------------------

mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b/1e6}'; }
sizelayers() { # "size layers generation" -> "SIZE MB, N layers"
	local s l g
	read -r s l g <<<"$1"
	[ -n "$s" ] && echo "$(mb "$s"), $l layers (g$g)" || echo "-"
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

echo
echo "real workload: berth ${rev:0:7} built and tested in a Debian $suite image ($gover);"
echo "  job: $work"
echo "  $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); jobs berth failed to run and ran again: $retries"
printf '%-34s' ""
for rt in "${runtimes[@]}"; do printf '%-28s' "$rt"; done
echo
row() { # label, then a value per runtime
	printf '%-34s' "$1"
	shift
	for v in "$@"; do printf '%-28s' "$v"; done
	echo
}
vals() { local rt fn=$1; for rt in "${runtimes[@]}"; do "$fn" "$rt"; done; }
c_run() { echo "$(secs "$(dur "$tmp/$1-cold.json" run)") s"; }
c_commit() { echo "$(secs "$(dur "$tmp/$1-cold.json" commit)") s"; }
c_total() { echo "$(secs "$(dur "$tmp/$1-cold.json" total)") s"; }
w_run() { echo "$(secs "$(dur "$tmp/$1-warm.json" run)") s"; }
w_commit() {
	local f=$tmp/$1-warm.json
	if [ "$(field "$f" .commit.committed)" = true ]; then
		echo "$(secs "$(dur "$f" commit)") s"
	else
		echo "$(secs "$(dur "$f" commit)") s (none: $(field "$f" .commit.reason))"
	fi
}
w_total() { echo "$(secs "$(dur "$tmp/$1-warm.json" total)") s"; }
w_ratio() { awk -v a="$(dur "$tmp/$1-cold.json" total)" -v b="$(dur "$tmp/$1-warm.json" total)" 'BEGIN {printf "%.1f\n", a/b}'; }
mapfile -t v < <(vals c_run); row "cold: run" "${v[@]}"
mapfile -t v < <(vals c_commit); row "cold: commit" "${v[@]}"
mapfile -t v < <(vals c_total); row "cold: total" "${v[@]}"
mapfile -t v < <(vals w_run); row "warm: run" "${v[@]}"
mapfile -t v < <(vals w_commit); row "warm: commit" "${v[@]}"
mapfile -t v < <(vals w_total); row "warm: total" "${v[@]}"
mapfile -t v < <(vals w_ratio); row "cold/warm (totals; target >= 10)" "${v[@]}"
if [ "$ci" != 1 ]; then
	t_commit() { echo "$(secs "$(dur "$tmp/$1-touch.json" commit)") s"; }
	t_total() { echo "$(secs "$(dur "$tmp/$1-touch.json" total)") s"; }
	t_saved() {
		local w=$tmp/$1-warm.json
		if [ "$(field "$w" .commit.reason)" = unchanged ]; then
			awk -v t="$(dur "$tmp/$1-touch.json" commit)" -v c="$(dur "$w" commit)" 'BEGIN {printf "%.1f s a job\n", (t - c) / 1e9}'
		else
			echo "none (warm job changed)"
		fi
	}
	mapfile -t v < <(vals t_commit); row "warm, one file written: commit" "${v[@]}"
	mapfile -t v < <(vals t_total); row "warm, one file written: total" "${v[@]}"
	mapfile -t v < <(vals t_saved); row "saved by the unchanged check" "${v[@]}"
fi
s_g1() { sizelayers "${g1[$1]}"; }
mapfile -t v < <(vals s_g1); row "snapshot after generation 1" "${v[@]}"
if [ "$ci" != 1 ] && [ "$gens" -gt 1 ]; then
	e_med() {
		local f=$tmp/$1-edit.totals
		if [ -s "$f" ]; then echo "$(secs "$(median <"$f")") s ($(wc -l <"$f") jobs)"; else echo "- (none)"; fi
	}
	mapfile -t v < <(vals e_med); row "edit job: total, median" "${v[@]}"
	if [ "$gens" -ge 10 ]; then
		s_g10() { sizelayers "${g10[$1]}"; }
		mapfile -t v < <(vals s_g10); row "snapshot after generation 10" "${v[@]}"
	fi
	s_gN() { sizelayers "${gN[$1]}"; }
	mapfile -t v < <(vals s_gN); row "snapshot after generation $gens" "${v[@]}"
	s_flat() { sizelayers "${flat[$1]}"; }
	mapfile -t v < <(vals s_flat); row "same state committed once" "${v[@]}"
	s_base() { sizelayers "${base[$1]}"; }
	mapfile -t v < <(vals s_base); row "base committed once" "${v[@]}"
	sizes() { # runtime -> "generation N, once, base" sizes
		local n f b
		read -r n _ <<<"${gN[$1]}"
		read -r f _ <<<"${flat[$1]}"
		read -r b _ <<<"${base[$1]}"
		echo "$n $f $b"
	}
	c_whole() {
		local n f b
		read -r n f b <<<"$(sizes "$1")"
		awk -v n="$n" -v f="$f" 'BEGIN {r = n / f; printf "%.3f (%s)\n", r, (r <= 1.10 ? "within 10 %" : "NOT within 10 %")}'
	}
	c_above() {
		local n f b
		read -r n f b <<<"$(sizes "$1")"
		awk -v n="$n" -v f="$f" -v b="$b" 'BEGIN {if (f > b) printf "%.1f / %.1f MB\n", (n - b) / 1e6, (f - b) / 1e6; else print "-"}'
	}
	mapfile -t v < <(vals c_whole); row "g$gens / committed once" "${v[@]}"
	mapfile -t v < <(vals c_above); row "above the base: g$gens / once" "${v[@]}"
fi
if [ "$ci" = 1 ]; then
	for rt in "${runtimes[@]}"; do
		say "$rt: ok: cold exit 0 and committed, warm exit 0 and a snapshot hit ($(w_ratio "$rt")x faster)"
	done
fi
