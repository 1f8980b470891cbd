#!/usr/bin/env bash
# stress.sh: the e2e stress steps (issue 17) at benchmark size: many berth
# processes at once on one work item and over three, round after round; every
# job's line must be kept, no job may find its snapshot's image gone, nothing
# may be left behind. The test log says how many rounds and processes ran.
#
#   scripts/stress.sh [RUNTIME...]                    # default: fake docker
#   STRESS_N=30 STRESS_ROUNDS=14 scripts/stress.sh fake
#
# STRESS_N is the number of berth processes started at once (default 30),
# STRESS_ROUNDS the rounds per step (default 10). Engines must be up
# (scripts/engines.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
runtimes=("$@")
[ ${#runtimes[@]} -gt 0 ] || runtimes=(fake docker)
status=0
for rt in "${runtimes[@]}"; do
	log=$(mktemp)
	BERTH_E2E_RUNTIMES="$rt" BERTH_STRESS_N="${STRESS_N:-30}" BERTH_STRESS_ROUNDS="${STRESS_ROUNDS:-10}" \
		go test -count=1 -timeout 120m -v -run "TestE2E/$rt/stress" ./e2e/ >"$log" 2>&1 || status=1
	grep -E '^(=== RUN|\s*--- |\s+[a-z_]+_test\.go|\s+r[0-9]+j[0-9]+: |ok|FAIL|PASS)' "$log" || cat "$log"
	rm -f "$log"
done
exit $status
