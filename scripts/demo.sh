#!/usr/bin/env bash
# demo.sh: the README's first command. Brings up a container engine if none is
# running, builds berth and its drivers, makes a small base image without a
# registry, and runs one work item twice: cold, then warm from its snapshot.
#
#   make demo                       # Docker
#   BERTH_RUNTIME=podman make demo  # or podman, containerd, fake
#   make demo-daemon                # the same through berth serve (BERTH_DEMO_DAEMON=1)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
runtime="${BERTH_RUNTIME:-docker}"
state="$PWD/.state/demo"
berth() { "$PWD/bin/berth" --state-dir "$state" "$@"; }

echo "== 1/4 engine ($runtime)"
case "$runtime" in
fake) ;;
*)
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		bash scripts/engines.sh "$runtime"
	else
		echo "not root on Debian: assuming $runtime is already running"
	fi
	;;
esac

echo "== 2/4 build"
make --no-print-directory build

echo "== 3/4 base image (no registry: busybox from Debian's busybox-static)"
mkdir -p "$state"
command -v busybox >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq busybox-static >/dev/null; }
go run ./tools/mkimage -o "$state/base.tar" -ref berth-demo/base:latest
berth images import --runtime "$runtime" --ref berth-demo/base:latest "$state/base.tar"

if [ "${BERTH_DEMO_DAEMON:-}" = 1 ]; then
	echo "== 3b berth serve (the runs below are its clients)"
	"$PWD/bin/berth" --state-dir "$state" --runtime "$runtime" serve &
	daemon=$!
	trap 'kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true' EXIT
	export BERTH_HOST="unix://$state/berth.sock"
	for _ in $(seq 200); do [ -S "$state/berth.sock" ] && break; sleep 0.05; done
fi

echo "== 4/4 one work item, run twice"
item="ticket-$(date +%s)"
# The job stands in for an agent working a ticket: a slow set-up (clone and
# install, here a sleep and a few thousand files) that only the first run pays.
job='if [ -f /work/deps/ready ]; then
  echo "set-up: found in the snapshot, skipped"
else
  echo "set-up: cloning and installing (slow, once)"; sleep 4
  mkdir -p /work/deps; head -c 20000000 /dev/urandom > /work/deps/blob; echo ok > /work/deps/ready
fi
echo "work: done on $(cat /work/deps/ready)"'
times=()
for run in cold warm; do
	echo "-- $run run"
	start=$(date +%s%N)
	berth run --runtime "$runtime" --image berth-demo/base:latest --project demo --work-item "$item" -- sh -c "$job"
	times+=("$(( ($(date +%s%N) - start) / 1000000 ))")
done
echo
echo "cold run: ${times[0]} ms   warm run: ${times[1]} ms   (work item $item on $runtime)"
berth snapshots ls --project demo
berth snapshots rm --project demo --work-item "$item" >/dev/null
