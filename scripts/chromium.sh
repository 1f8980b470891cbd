#!/usr/bin/env bash
# chromium.sh: install Debian's Chromium, which the dashboard's browser test
# (server/dashboard, chromedp) drives headless, and a font for its pages.
#
# Idempotent, for Debian as root: installs the chromium package when
# chromium is not on PATH, then prints its version. Elsewhere it installs
# nothing and says so: the browser test then skips (and fails in CI, where
# CI=true).
set -euo pipefail

say() { printf 'chromium: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "not root on Debian: not installing Chromium (the browser test skips; it fails when CI=true)"
		exit 0
	fi
	say "installing chromium"
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi
say "$(chromium --version 2>/dev/null || echo "at $(command -v chromium)")"
