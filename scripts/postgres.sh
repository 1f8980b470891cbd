#!/usr/bin/env bash
# postgres.sh: a PostgreSQL 15 on loopback for the store's tests (the
# PostgreSQL store, core/internal/store), as ENGINES.md describes.
#
#   scripts/postgres.sh       install (Debian's postgresql, as root) when missing, make the
#                             cluster when missing, start it when it does not answer; then
#                             print its URL on stdout
#   scripts/postgres.sh url   print the URL when it answers, else nothing (starts nothing)
#   scripts/postgres.sh stop  stop it
#
# Idempotent. The cluster lives outside the repository, in $BERTH_POSTGRES_DIR
# (default /var/tmp/berth-postgres), trusts local connections (initdb -A
# trust) and listens on 127.0.0.1:$BERTH_POSTGRES_PORT (default 55432) only,
# so it never meets another PostgreSQL of this machine. The tests take the
# URL from BERTH_TEST_POSTGRES; without it they skip, and in CI (CI=true)
# they fail. Elsewhere than root on Debian it installs nothing and says so.
set -euo pipefail

DIR=${BERTH_POSTGRES_DIR:-/var/tmp/berth-postgres}
PORT=${BERTH_POSTGRES_PORT:-55432}
DB=berth_test
URL="postgres://postgres@127.0.0.1:$PORT/$DB?sslmode=disable"

say() { printf 'postgres: %s\n' "$*" >&2; }

bindir() {
	local d
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ]; then
			echo "$d"
			return
		fi
	done
}

ready() { [ -n "$BIN" ] && "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d postgres; }

# as runs a command as the cluster's owner: postgres when root, else oneself.
as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

BIN=$(bindir)
case "${1:-start}" in
url)
	if ready; then echo "$URL"; fi
	exit 0
	;;
stop)
	if [ -n "$BIN" ] && [ -f "$DIR/data/postmaster.pid" ]; then
		as "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2
	fi
	exit 0
	;;
start) ;;
*)
	say "usage: $0 [start|url|stop]"
	exit 2
	;;
esac

if [ -z "$BIN" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "not root on Debian: not installing PostgreSQL (the PostgreSQL store tests skip; they fail when CI=true)"
		exit 0
	fi
	say "installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
	BIN=$(bindir)
	if [ -z "$BIN" ]; then
		say "postgresql installed, but no initdb under /usr/lib/postgresql"
		exit 1
	fi
fi

if ! ready; then
	mkdir -p "$DIR"
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$DIR"
		chmod 0700 "$DIR"
	fi
	if [ ! -f "$DIR/data/PG_VERSION" ]; then
		say "initdb $DIR/data"
		as "$BIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 >"$DIR/initdb.log" 2>&1 ||
			{ cat "$DIR/initdb.log" >&2; exit 1; }
	fi
	say "starting on 127.0.0.1:$PORT"
	# A stale pid file (a killed machine's) is pg_ctl's own to judge.
	if ! as "$BIN/pg_ctl" -D "$DIR/data" -o "-k $DIR -p $PORT -h 127.0.0.1" -l "$DIR/postgres.log" -w -t 60 start >/dev/null; then
		tail -n 20 "$DIR/postgres.log" >&2 || true
		exit 1
	fi
	for _ in $(seq 60); do
		ready && break
		sleep 0.5
	done
	if ! ready; then
		say "started, but 127.0.0.1:$PORT does not answer"
		exit 1
	fi
fi
if ! as "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
	as "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi
say "$("$BIN/postgres" --version) on 127.0.0.1:$PORT ($DIR)"
echo "$URL"
