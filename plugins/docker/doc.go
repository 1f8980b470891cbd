// Package docker is berth's driver for the Docker Engine: it implements
// runtime.Runtime, in process for a Go program that imports it, or served to
// berth as an out-of-process plugin (runtime/wire) by the command
// cmd/berth-driver-docker.
//
// The driver implements the whole runtime.Runtime contract against the Docker
// Engine API with github.com/moby/moby/client, negotiating the API version
// with the daemon (Docker 20.10 speaks API 1.41).
//
// # Options
//
// The plugin options (wire.DriverOptions, read by OptionsFromMap) have one
// key:
//
//   - "address": the daemon's address (unix://, tcp://, ...). Without it
//     the driver finds the daemon as the Docker CLI does: $DOCKER_HOST, else
//     the current context's docker endpoint ($DOCKER_CONTEXT, else
//     currentContext in config.json of $DOCKER_CONFIG or ~/.docker; the
//     context's TLS files too), else unix:///var/run/docker.sock. TLS and
//     the API version come from DOCKER_CERT_PATH, DOCKER_TLS_VERIFY and
//     DOCKER_API_VERSION, as for the client's FromEnv.
//
// # How the contract maps onto Docker
//
//   - Run creates the container (never with AutoRemove, always with an init
//     as PID 1 so that SIGTERM reaches the program), registers a wait for
//     its next exit and only then starts it, so an exit that comes before Run
//     returns is still seen by Wait. If the start fails, the container is
//     removed. Env and SecretEnv both go into the container's environment;
//     the names (never the values) of the secret variables are kept in a
//     label that the driver hides from the labels it reports.
//   - MemoryBytes caps memory and swap together: the container's Memory and
//     MemorySwap (Docker's memory plus swap) are both set to it, where
//     Docker alone would allow as much swap again. NanoCPUs is Docker's
//     NanoCPUs.
//   - Wait returns the exit seen by that registered wait, or asks the engine
//     to wait until the container is not running, and reads OOMKilled and the
//     exit code from the container's state; it can be called any number of
//     times.
//   - Stop sends the signal with a kill, waits up to the grace period, then
//     kills with SIGKILL (this also works with API versions that ignore the
//     signal parameter of stop).
//   - Commit never pauses the container and refuses a running one
//     (ErrFailedPrecondition). A container without SecretEnv is committed
//     with Docker's commit as is. With SecretEnv there is a catch: Docker's
//     commit stores the container's whole config, values of the environment
//     included, next to the image's config ("ContainerConfig" in an image
//     inspect), with no way to leave it out. So the driver commits such a
//     container to an intermediate image first (with each secret key set as
//     a bare name, so that the image's own Env never holds a value), then
//     writes that image's config again without the container config and
//     without the secret keys, loads it under the requested reference (a
//     tar of the config and manifest only: the engine has every layer
//     already) and deletes the intermediate image. That image is never
//     without a reference: the engine's commit tags it with the temporary
//     reference "<ref>-unscrubbed" (the requested tag, "latest" if none,
//     followed by "-unscrubbed", in the requested repository), so no
//     clean-up of unreferenced images can take it mid-commit, and a driver
//     that dies mid-commit leaves it under a name in berth's own
//     repository, which berth's clean-up removes (runtime.Commit allows a
//     host to). The driver deletes it when the commit ends, succeeded,
//     failed or cancelled, and deletes the leftover of a crashed commit to
//     the same reference before it commits. The committed image holds no
//     trace of the secret: not its value, not its name (unless a config
//     change sets the key again, in the open). It has no parent link, and
//     its history is the engine's history view (times in seconds).
//   - Commit with Squash exports the container's file system and imports it
//     as a one-layer image whose config the driver writes itself as
//     Dockerfile instructions (ENV, CMD, ENTRYPOINT, WORKDIR, USER,
//     STOPSIGNAL, LABEL), without the secret keys.
//   - PushImage (runtime.RegistryClient) tags the image as the destination,
//     has the engine push it (with X-Registry-Auth: the credentials, or an
//     empty auth config when anonymous, which the engine requires), reads
//     the push's progress stream to its end (an error in it is
//     ErrUnavailable naming the registry) and takes the digest from its
//     aux message. It then removes the tag, or gives it back to the image
//     it named before, however the push ended. Docker's removal of a tag
//     also drops the image's digest references in that repository when no
//     tag is left there, and deletes an image nothing else names: the
//     driver pulls such references back by digest (no download: the
//     engine has the layers). Whether a registry may be reached over plain
//     HTTP is the daemon's setting ("insecure-registries"; loopback is
//     allowed by default); RegistryOptions.Insecure changes nothing.
//   - PullDigest has the engine pull the reference by digest; a manifest
//     the registry does not know is ErrNotFound, a registry that cannot be
//     reached ErrUnavailable naming it. An image the engine has already
//     only gains the digest reference.
//   - Engine errors are classified with the SDK's typed checks (errdefs):
//     not found, conflict, invalid argument, ...; a daemon that cannot be
//     reached gives runtime.ErrUnavailable naming its address. The error
//     is a runtime.EngineError: the class and the SDK's error are both in
//     its chain.
package docker
