// Package podman is berth's driver for Podman: it implements the runtime
// contract (github.com/berth-dev/berth/runtime), in process for a Go
// program that imports it, or over berth's plugin wire as the command
// cmd/berth-driver-podman, and carries each call out through Podman's API
// service with the Podman v5 Go bindings (tested against the Podman 4.3.1
// service).
//
// # Building and testing
//
// The bindings build only with the build tags "remote" and
// "containers_image_openpgp" (without them, the bindings pull in gpgme and
// local-storage code). The shipped binary is built without cgo, with the
// Makefile's PODMAN_TAGS:
//
//	CGO_ENABLED=0 go build -tags "remote containers_image_openpgp exclude_graphdriver_btrfs" -o berth-driver-podman ./cmd/berth-driver-podman
//
// The race detector needs cgo, and with cgo containers/storage also
// compiles its btrfs driver, which needs the btrfs C headers; the tag
// "exclude_graphdriver_btrfs" leaves it out (it changes nothing without
// cgo). So the tests run with
//
//	CGO_ENABLED=1 go test -race -tags "remote containers_image_openpgp exclude_graphdriver_btrfs" ./...
//
// A test binary built without these three tags panics at start, saying
// so (guard_test.go). TestMain builds the driver binary as the Makefile
// does (CGO_ENABLED=0, the same tags) to test it over the plugin wire. The tests need the API service
// (scripts/engines.sh starts it); without it they skip, or fail when the
// environment variable CI is "true".
//
// # Options
//
// The host passes options with wire.Config.Options (read with
// wire.DriverOptions, then OptionsFromMap); the keys are snake_case:
//
//   - "address": the URI of the API service; default, by Podman's own
//     conventions, $CONTAINER_HOST, else the service's socket for the
//     driver's user: unix:///run/podman/podman.sock for root, the rootless
//     $XDG_RUNTIME_DIR/podman/podman.sock for any other user
//     (DefaultAddressFor). The driver starts and answers Info
//     even when the service is down; every engine call then fails with
//     runtime.ErrUnavailable naming the address.
//   - "init_path": the static init binary Podman runs as every container's
//     PID 1 (podman run --init), so that SIGTERM reaches a job without a
//     handler (the kernel drops it for a PID 1). Default: the first of
//     catatonit (/usr/libexec/podman/catatonit, /usr/bin/catatonit) and
//     tini-static (/usr/bin/tini-static, /usr/bin/docker-init, which
//     Debian's docker.io installs) found, for a service on this host; else
//     the init_path of the service's containers.conf.
//   - "secret_grace": how old (a Go duration, default 10m) a secret of
//     berth's whose container no longer exists must be before the driver
//     deletes it (see SecretEnv below).
//
// # How the contract maps onto Podman
//
//   - Run is a specgen create plus start. The container is never
//     auto-removed; if start fails, or ctx is cancelled, the driver removes
//     what it created.
//   - SecretEnv values travel as Podman secrets of type env: the driver
//     creates one secret per entry, names it in the spec's secret_env, and
//     deletes the secrets once the container has started (Podman reads them
//     only when it generates the OCI spec at start). A secret's name ties it
//     to its container: berth-env-NAME-NONCE-N, NAME being the container's
//     name (a container without one gets the name berth-TOKEN from the
//     driver; a name too long to fit becomes h-HASH), NONCE the Run's own,
//     N the entry's index. A driver that dies between making the secrets
//     and deleting them leaves them in Podman's store, so the driver
//     deletes berth's stale secrets, those whose container no longer exists
//     and that are older than the grace ("secret_grace": a Run makes its
//     secrets before its container, and a younger secret may be one of a
//     Run in progress), in two places: in Remove, once the container is
//     gone, and in every ListContainers. berth's reconcile lists its
//     containers with ListContainers on every run and gc, so a leftover
//     goes at the first reconcile after the grace; the sweep costs one
//     listing of the secrets when there is nothing to delete, runs beside
//     the listing of the containers, and never fails the call (what it
//     cannot delete, the next one tries again). Podman's commit copies
//     the environment of the container's stored spec, which never holds
//     secret values, so neither the key nor the value reaches a committed
//     image. (The container's own inspect, which reads the OCI spec made at
//     start, does show them until the container is removed.) A
//     SecretEnv entry with an empty value (Podman refuses empty secrets) is
//     passed as plain environment: the committed image then has KEY= and
//     nothing secret.
//   - MemoryBytes caps memory and swap together: the OCI spec's memory
//     limit and its swap limit (memory plus swap) are both set to it, where
//     Podman alone would allow as much swap again (on a host without swap
//     accounting, Podman drops the swap limit with a warning). NanoCPUs is
//     a CFS quota over a 100ms period.
//   - Wait inspects the container and, while it runs, blocks on the libpod
//     wait endpoint with the conditions exited and stopped; the status
//     (exit code, OOMKilled, error) always comes from inspect of the exited
//     container, so Wait answers any number of times until Remove.
//     OOMKilled is Podman's own flag: Podman 4.3.1 with conmon 2.1.6 on a
//     cgroup v1 host was seen never to set it (exit code 137 only).
//   - Commit refuses a running container (runtime.ErrFailedPrecondition),
//     adds labels and config changes through Podman's commit changes
//     (LABEL, ENV, CMD, WORKDIR), and squashes with Podman's squash option.
//     Podman copies the container's labels into the image too.
//   - Podman names images without a registry localhost/NAME (and Docker Hub
//     ones docker.io/library/NAME); the driver reports such references in
//     their short form, as they were given, and Podman resolves short forms
//     on lookup.
//   - PushImage and PullDigest (capability registry) go through the
//     service: a push by the image's ID, which adds no name to it, in the
//     format the image is stored in (Podman's commits are OCI images);
//     TLS verification is off, so plain HTTP works, for loopback
//     registries and with RegistryOptions.Insecure, else the service's
//     registries.conf decides. The Podman 4 service does not report the
//     digest of the manifest it pushed, so the driver asks the registry
//     for the tag's digest (a HEAD of the manifest, from the driver's own
//     host, with containers/image's docker transport). A pull by digest
//     adds the reference to the image's names (also to an image the engine
//     had under other names); RemoveImage of it then only removes that
//     name. Podman 4 resolves "repo@digest" to any image that recorded the
//     digest, named or not; InspectImage and RemoveImage accept such a
//     reference only while it is one of the image's names, so that a
//     removed digest reference names nothing (Run still takes Podman's
//     resolution). The service reports a registry's failures as text
//     only, which the driver classes by containers/image's messages
//     (manifest unknown: not found; connection refused, TLS and
//     authentication failures: unavailable, naming the registry).
//   - The image a container was created from is kept, as given, in the
//     container's annotation io.berth.image.
//   - Engine errors map to the contract's classes (runtime.WrapEngine: the
//     class and the bindings' error both in the chain) by the HTTP status
//     of the bindings' errorhandling.ErrorModel, by the exit code of Podman's
//     image removal report, and by checks of the engine's state (a name in
//     use, an image that does not exist) where the API answers 500.
package podman
