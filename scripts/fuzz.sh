#!/usr/bin/env bash
# Fuzz every fuzz target of the root module for a bounded time.
#
#   FUZZTIME          how long each target is fuzzed (default 10s)
#   FUZZMINIMIZETIME  how long a new input is minimized (default 2s: go test's
#                     60s would spend a short run minimizing one input)
#   FUZZJOBS          how many targets are fuzzed at once, one worker each
#                     (default 2)
#   FUZZ              a regexp: fuzz only the targets it matches (default all)
#
# A target is a Fuzz* function of a _test.go file outside plugins/ and
# examples/ (their own modules). `go test ./...` already runs each target's
# seeds and its corpus in testdata/fuzz/<target>/ as ordinary tests; this
# script searches for new failing inputs. One it finds is written into
# testdata/fuzz/<target>/ beside the test: fix the bug and commit the input,
# which then stays a seed. Inputs that widen coverage go to go test's fuzz
# cache, as with go test -fuzz, so the next run starts from them.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}
FUZZJOBS=${FUZZJOBS:-2}
FUZZ=${FUZZ:-.}

# package:target, one a line.
targets=$(find . -name '*_test.go' -not -path './plugins/*' -not -path './examples/*' -not -path '*/testdata/*' -print0 |
	xargs -0 grep -H '^func Fuzz[A-Za-z0-9_]*(f \*testing\.F)' |
	sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*|\1:\2|' |
	grep -E ":.*($FUZZ)" | sort -u || true)
if [ -z "$targets" ]; then
	echo "fuzz: no target matches $FUZZ" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=$("$GO" env GOCACHE)/fuzz

# Each package's test binary is built once, with the fuzzing instrumentation
# (which covers every dependency), one package at a time so that no two
# builds compile the same dependencies at once. The targets then run the
# binary as go test -fuzz would, without linking it again.
start=$SECONDS
for pkg in $(echo "$targets" | cut -d: -f1 | sort -u); do
	"$GO" test -c -fuzz=. -o "$work/${pkg//\//_}.test" "$pkg"
done
echo "fuzz: built $(echo "$targets" | cut -d: -f1 | sort -u | wc -l) packages in $((SECONDS - start))s;" \
	"fuzzing $(echo "$targets" | wc -l) targets, $FUZZTIME each, $FUZZJOBS at a time"

fuzz_one() {
	local pkg=${1%%:*} name=${1##*:}
	local bin="$work/${pkg//\//_}.test" log="$work/${pkg//\//_}.$name.log"
	local importpath start=$SECONDS
	importpath=$(cd "$pkg" && "$GO" list -f '{{.ImportPath}}' .)
	if (cd "$pkg" && "$bin" -test.run='^$' -test.fuzz="^$name\$" -test.fuzztime="$FUZZTIME" \
		-test.fuzzminimizetime="$FUZZMINIMIZETIME" -test.parallel=1 -test.paniconexit0 -test.timeout=10m \
		-test.fuzzcachedir="$cache/$importpath") >"$log" 2>&1; then
		echo "ok    $name ($pkg) $((SECONDS - start))s: $(grep '^fuzz: elapsed' "$log" | tail -1 | sed -E 's/^fuzz: elapsed: [^,]*, //')"
	else
		echo "FAIL  $name ($pkg)"
		# The failure and the input, without the progress lines.
		grep -v '^fuzz: elapsed' "$log" | sed 's/^/      /'
		return 1
	fi
}
export -f fuzz_one
export GO FUZZTIME FUZZMINIMIZETIME work cache

echo "$targets" | xargs -P "$FUZZJOBS" -I{} bash -c 'fuzz_one "$@"' _ {}
