# berth: build, test, benchmark and demo.
#
#   make build   the berth command and every driver binary, into bin/
#   make test    engines up (scripts/engines.sh, as root), Chromium (scripts/chromium.sh), PostgreSQL
#                and a registry on loopback (scripts/postgres.sh, scripts/registry.sh), then every
#                module's tests with -race (the dashboard's screenshots into .ci/artifacts/), then make fuzz
#   make test-typescript  the TypeScript client (clients/typescript): npm ci, build, tests against berth serve
#   make fuzz    every fuzz target for FUZZTIME each (default 10s; scripts/fuzz.sh)
#   make cross   the command, the core, the wire and the docker and podman drivers build for macOS and Windows
#   make demo    the README's first command: an engine, a build, one work item run twice
#   make demo-daemon  the same through berth serve
#   make bench   the speed figures of the README's performance section
#   make bench-real     the real workload: a Debian image, berth built and tested cold then warm, per engine
#   make bench-real-ci  its short version (Docker, one cold and one warm run), part of make test
#   make bench-cluster  20 berth processes on one PostgreSQL and one registry, 5,000 fake jobs over 500 work items
#   make proto   regenerate the plugin wire's protobuf code
#   make api     regenerate the HTTP API's Go types from api/openapi.yaml

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
PODMAN_TAGS := remote containers_image_openpgp exclude_graphdriver_btrfs
# The runtimes the end-to-end scenario runs against.
E2E_RUNTIMES ?= fake docker podman containerd
TESTFLAGS ?= -race -count=1 -timeout 60m
# How long make fuzz fuzzes each target.
FUZZTIME ?= 10s
# Where tests write what they leave for people to look at (the dashboard's
# screenshots); CI keeps it.
ARTIFACTS ?= $(CURDIR)/.ci/artifacts

.PHONY: build test cross fuzz test-root test-plugins test-examples test-typescript engines chromium postgres demo demo-daemon bench bench-real bench-real-ci proto vet fmt clean

# Static binaries without symbol tables start faster (berth launches a driver
# for every command); stack traces keep their function names and lines.
BUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w"

build:
	$(BUILD) -o $(BIN)/berth ./cmd/berth
	$(BUILD) -o $(BIN)/berth-driver-fake ./cmd/berth-driver-fake
	cd plugins/docker && $(BUILD) -o $(BIN)/berth-driver-docker ./cmd/berth-driver-docker
	cd plugins/podman && $(BUILD) -tags "$(PODMAN_TAGS)" -o $(BIN)/berth-driver-podman ./cmd/berth-driver-podman
	cd plugins/containerd && $(BUILD) -o $(BIN)/berth-driver-containerd ./cmd/berth-driver-containerd

# Engines are brought up only where the script can (root on Debian); elsewhere
# engine-backed tests skip with a message, and in CI (CI=true) they fail.
engines:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then bash scripts/engines.sh; \
	else echo "make: not root on Debian: not starting engines (engine tests will skip; they fail when CI=true)"; fi

# Debian's Chromium for the dashboard's browser test; elsewhere it skips
# with a message, and in CI (CI=true) it fails.
chromium:
	@bash scripts/chromium.sh

# A PostgreSQL 15 on 127.0.0.1:55432 (data in /var/tmp/berth-postgres) for
# the store's tests, which find it through BERTH_TEST_POSTGRES; elsewhere
# than root on Debian they skip with a message, and in CI (CI=true) fail.
postgres:
	@bash scripts/postgres.sh >/dev/null

# An OCI registry on 127.0.0.1:55000 (Debian's docker-registry, storage in
# /var/tmp/berth-registry) for the conformance group Registry, which finds
# it through BERTH_TEST_REGISTRY; elsewhere than root on Debian it skips with
# a message, and in CI (CI=true) fails.
.PHONY: registry
registry:
	@bash scripts/registry.sh >/dev/null

test: engines chromium postgres registry cross test-root test-plugins test-examples test-typescript fuzz bench-real-ci

test-root:
	BERTH_TEST_POSTGRES="$${BERTH_TEST_POSTGRES:-$$(bash scripts/postgres.sh url)}" \
	BERTH_TEST_REGISTRY="$${BERTH_TEST_REGISTRY:-$$(bash scripts/registry.sh addr)}" \
	BERTH_E2E_RUNTIMES="$(E2E_RUNTIMES)" BERTH_ARTIFACTS="$(ARTIFACTS)" $(GO) test $(TESTFLAGS) ./...

test-plugins:
	cd plugins/docker && BERTH_TEST_REGISTRY="$${BERTH_TEST_REGISTRY:-$$(bash ../../scripts/registry.sh addr)}" $(GO) test $(TESTFLAGS) ./...
	cd plugins/podman && BERTH_TEST_REGISTRY="$${BERTH_TEST_REGISTRY:-$$(bash ../../scripts/registry.sh addr)}" CGO_ENABLED=1 $(GO) test $(TESTFLAGS) -tags "$(PODMAN_TAGS)" ./...
	cd plugins/containerd && BERTH_TEST_REGISTRY="$${BERTH_TEST_REGISTRY:-$$(bash ../../scripts/registry.sh addr)}" $(GO) test $(TESTFLAGS) ./...

test-examples:
	cd examples/chrootdriver && $(GO) test $(TESTFLAGS) ./...

# The TypeScript client: its packages from the lock (npm registry only), its
# build, its tests against a berth serve on the fake, then the same against
# Docker (skipped without an engine; failed in CI, CI=true).
test-typescript: build
	cd clients/typescript && npm ci --no-audit --no-fund && npm test
	cd clients/typescript && BERTH_TS_RUNTIME=docker npm run test:run

# What builds for each of CROSS_OS (besides Linux): the command, the core,
# the runtime packages, and the docker and podman drivers. The containerd
# driver is left out: it is Linux-only (flock, the engine's own packages).
# On Windows the fake runtime (and so the test suites built on it) does not
# build yet: it uses flock and Unix signals; the berth command does not need it.
CROSS_OS ?= darwin windows
cross:
	@for os in $(CROSS_OS); do \
		echo "cross: GOOS=$$os"; \
		pkgs="./cmd/... ./core/... ./runtime/..."; \
		if [ $$os = windows ]; then pkgs="./cmd/berth ./core/... ./runtime ./runtime/archive ./runtime/wire/..."; fi; \
		GOOS=$$os $(GO) build $$pkgs && \
		(cd plugins/docker && GOOS=$$os $(GO) build ./...) && \
		(cd plugins/podman && GOOS=$$os $(GO) build -tags "$(PODMAN_TAGS)" ./...) || exit 1; \
	done

# The seeds and corpus of every fuzz target already run as tests in test-root;
# this searches for new failing inputs, for a bounded time.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz.sh

demo:
	bash scripts/demo.sh

demo-daemon:
	BERTH_DEMO_DAEMON=1 bash scripts/demo.sh

bench: build
	bash scripts/bench.sh

# BENCH_REAL_RUNTIMES, BENCH_REAL_GENERATIONS, BENCH_REAL_CACHE: see the script.
bench-real: build
	bash scripts/bench-real.sh

bench-real-ci: build
	BENCH_REAL_CI=1 bash scripts/bench-real.sh

# The cluster benchmark: BENCH_CLUSTER_PROCS (20) processes, each a host with a
# fake runtime of its own, on one PostgreSQL and one registry (both started by
# the script), BENCH_CLUSTER_JOBS (5000) jobs over BENCH_CLUSTER_ITEMS (500)
# work items; per-job figures and the proof that no commit was lost or doubled.
# Its short version is tools/clusterbench's test, in test-root.
.PHONY: bench-cluster
bench-cluster:
	bash scripts/bench-cluster.sh

proto:
	bash runtime/wire/gen.sh

# oapi-codegen, pinned in api/tools/go.mod; api's tests fail when the
# generated code is stale.
.PHONY: api
api:
	bash api/gen.sh

vet:
	$(GO) vet ./...
	for m in plugins/docker plugins/containerd examples/chrootdriver; do (cd $$m && $(GO) vet ./...) || exit 1; done
	cd plugins/podman && $(GO) vet -tags "$(PODMAN_TAGS)" ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
