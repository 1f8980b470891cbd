#!/usr/bin/env bash
# engines.sh: install and start the container engines berth's tests and demo use.
#
# Idempotent, for Debian as root: installs what is missing (containerd, runc,
# docker.io, podman, conmon), writes the configuration the engines need on
# these machines, starts every daemon that is not running (detached, since
# there is no systemd), waits until each answers and prints what it did.
#
#   scripts/engines.sh            # all engines
#   scripts/engines.sh docker     # only what Docker needs (containerd + dockerd)
#
# Logs of started daemons go to /var/log/berth-engines/.
set -euo pipefail

want="${*:-containerd docker podman}"
logdir=/var/log/berth-engines
mkdir -p "$logdir"

say() { printf 'engines: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	say "must run as root (it installs packages and starts daemons)"
	exit 1
fi

need_pkgs=()
for p in containerd runc docker.io podman conmon busybox-static; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
	say "installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >"$logdir/apt.log" 2>&1 || {
		cat "$logdir/apt.log" >&2
		exit 1
	}
fi

# Podman on these machines needs runc (crun fails with cgroups in hybrid
# mode) and ulimits no higher than the host's hard limits.
mkdir -p /etc/containers
if ! grep -q 'berth-engines' /etc/containers/containers.conf 2>/dev/null; then
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] && hard=20000
	[ "$hard" -gt 20000 ] && hard=20000
	cat >/etc/containers/containers.conf <<CONF
# written by berth scripts/engines.sh (berth-engines)
[containers]
default_ulimits = ["nofile=${hard}:${hard}", "nproc=${hard}:${hard}"]
[engine]
runtime = "runc"
CONF
fi
# A policy that accepts local images (podman import/load needs one).
if [ ! -f /etc/containers/policy.json ]; then
	echo '{"default":[{"type":"insecureAcceptAnything"}]}' >/etc/containers/policy.json
fi

wait_for() { # name, tries, command...
	local name=$1 tries=$2
	shift 2
	for _ in $(seq "$tries"); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.25
	done
	say "$name did not answer; its log:"
	tail -n 30 "$logdir/$name.log" >&2 || true
	return 1
}

start_containerd() {
	if ctr version >/dev/null 2>&1; then
		say "containerd already running"
		return
	fi
	say "starting containerd"
	setsid containerd >"$logdir/containerd.log" 2>&1 </dev/null &
	wait_for containerd 240 ctr version
	say "containerd ready at /run/containerd/containerd.sock"
}

start_docker() {
	if docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
		say "docker already running"
		return
	fi
	say "starting dockerd"
	rm -f /var/run/docker.pid
	setsid dockerd --containerd=/run/containerd/containerd.sock >"$logdir/docker.log" 2>&1 </dev/null &
	wait_for docker 240 docker -H unix:///var/run/docker.sock version
	say "docker ready at /var/run/docker.sock"
}

start_podman() {
	if curl -sf --unix-socket /run/podman/podman.sock http://d/_ping >/dev/null 2>&1; then
		say "podman service already running"
		return
	fi
	say "starting podman system service"
	mkdir -p /run/podman
	rm -f /run/podman/podman.sock
	setsid podman system service --time=0 unix:///run/podman/podman.sock >"$logdir/podman.log" 2>&1 </dev/null &
	wait_for podman 240 curl -sf --unix-socket /run/podman/podman.sock http://d/_ping
	say "podman ready at /run/podman/podman.sock"
}

command -v curl >/dev/null || { apt-get install -y -qq curl >/dev/null; }

# The engines outlive this script: they start from /, not from the caller's
# directory, which may go (a test's temporary directory, a worktree). A
# Podman service whose directory went makes every container fail to start
# ("conmon: Failed to get working directory").
cd /

start_containerd
case " $want " in *" docker "*) start_docker ;; esac
case " $want " in *" podman "*) start_podman ;; esac
say "ready: $want"
