// Package e2e drives the built berth binary through one end-to-end
// scenario, once per runtime under test.
//
// TestMain builds berth and berth-driver-fake, and the driver of every
// engine named in BERTH_E2E_RUNTIMES (default "fake"; for example
// "fake docker podman containerd"), into a temporary directory. The
// scenario is the same for every runtime: a cold and a warm run of a work
// item, a failing run, a timeout, an interrupted run, snapshots ls and rm,
// gc (dry run, eviction, and orphans left by a berth killed with SIGKILL),
// 200 consecutive generations of one work item (BERTH_E2E_GENERATIONS
// shortens it for local iteration) and the bad inputs that must end with
// exit code 125 and leave nothing behind.
//
// The trust steps (issue 11) check that berth removes only what it made (a
// user's tag of a snapshot, an image committed from a container run from
// one, and that container survive gc and reconciles, made with the engine's
// own CLI: docker, podman, ctr), that a berth in another PID namespace is
// alive to gc, that a killed berth's job past its deadline is removed by the
// next gc, that one gc removes both an orphan container and the snapshot
// image it held, and that a secret value never shows: not in any output,
// --json result, metrics file, log line or byte of the state directory, and
// not in any byte of any image berth leaves in the engine (saved with the
// engine's CLI, layers decompressed). The stress steps (issue 17) start
// many berth processes at once on one work item and over three, round after
// round, and check that every job's line is kept and nothing is left:
// BERTH_STRESS_N processes (default 12 on the fake, 6 on an engine),
// BERTH_STRESS_ROUNDS rounds (default 2); scripts/stress.sh runs them larger.
//
// After each step no process it
// started is left (a driver must not outlive the berth that started it, even
// one killed with SIGKILL), and after each runtime's scenario no container or
// image made by it is left in the engine.
//
// BERTH_E2E_RACE=1 builds berth and the fake driver with the race detector
// too (each berth command then takes about a second longer).
//
// A real engine that does not answer makes its scenario skip, with a
// message pointing at scripts/engines.sh, or fail when CI=true.
//
//	go test ./e2e/                                         # the fake
//	BERTH_E2E_RUNTIMES=docker go test -timeout 30m ./e2e/  # real Docker
package e2e
