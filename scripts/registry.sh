#!/usr/bin/env bash
# registry.sh: an OCI registry on loopback for the tests of RegistryClient
# (the conformance group Registry, runtime/runtimetest), as ENGINES.md
# describes: Debian's docker-registry (CNCF Distribution 2.8).
#
#   scripts/registry.sh        install (Debian's docker-registry, as root) when missing, start
#                              it when it does not answer; then print its address on stdout
#   scripts/registry.sh addr   print the address when it answers, else nothing (starts nothing)
#   scripts/registry.sh stop   stop it
#
# Idempotent. It runs with a config of its own (the package's asks for
# htpasswd auth and listens on :5000): no auth, filesystem storage in
# $BERTH_REGISTRY_DIR (default /var/tmp/berth-registry), deletes allowed,
# listening on 127.0.0.1:$BERTH_REGISTRY_PORT (default 55000) only, plain
# HTTP, which engines accept from a loopback registry. Its log is in the
# same directory. The tests take the address from
# BERTH_TEST_REGISTRY; without it they skip, and in CI (CI=true) they fail.
# Elsewhere than root on Debian it installs nothing and says so.
set -euo pipefail

DIR=${BERTH_REGISTRY_DIR:-/var/tmp/berth-registry}
PORT=${BERTH_REGISTRY_PORT:-55000}
ADDR="127.0.0.1:$PORT"

say() { printf 'registry: %s\n' "$*" >&2; }

ready() { curl -fsS -o /dev/null --max-time 2 "http://$ADDR/v2/" 2>/dev/null; }

# ours prints the pid of the registry serving this directory's config, if
# one runs (whoever started it).
ours() {
	local f want
	want="serve"$'\n'"$DIR/config.yml"
	for f in /proc/[0-9]*/cmdline; do
		if [ "$(tr '\0' '\n' 2>/dev/null <"$f" | sed -n '1{s@.*/@@;p};2,3p')" = "docker-registry"$'\n'"$want" ]; then
			f=${f#/proc/}
			echo "${f%/cmdline}"
			return
		fi
	done
}

case "${1:-start}" in
addr)
	if ready; then echo "$ADDR"; fi
	exit 0
	;;
stop)
	pid=$(ours)
	if [ -n "$pid" ]; then
		kill "$pid"
		for _ in $(seq 50); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		say "stopped $ADDR (pid $pid)"
	fi
	exit 0
	;;
start) ;;
*)
	say "usage: $0 [start|addr|stop]"
	exit 2
	;;
esac

if ready; then
	echo "$ADDR"
	exit 0
fi

if ! command -v docker-registry >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "not root on Debian: not installing docker-registry (the registry tests skip; they fail when CI=true)"
		exit 0
	fi
	say "installing docker-registry"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-registry curl; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi

mkdir -p "$DIR/data"
cat >"$DIR/config.yml" <<EOF
# Written by scripts/registry.sh: a registry for berth's tests.
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $DIR/data
  delete:
    enabled: true
http:
  addr: $ADDR
EOF

if [ -z "$(ours)" ]; then
	say "starting on $ADDR ($DIR)"
	# From /, detached: a service must never keep its caller's working
	# directory (or its session).
	(cd / && exec setsid docker-registry serve "$DIR/config.yml" </dev/null >>"$DIR/registry.log" 2>&1) &
fi
for _ in $(seq 100); do
	ready && break
	sleep 0.2
done
if ! ready; then
	say "started, but http://$ADDR/v2/ does not answer; the end of $DIR/registry.log:"
	tail -n 20 "$DIR/registry.log" >&2 || true
	exit 1
fi
say "$(docker-registry --version 2>/dev/null | head -n 1) on $ADDR ($DIR)"
echo "$ADDR"
