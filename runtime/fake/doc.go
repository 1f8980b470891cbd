// Package fake is a runtime.Runtime that runs no engine: the reference
// implementation berth's core is tested against, and the driver behind
// cmd/berth-driver-fake. It is deterministic (IDs come from counters and
// digests; WithClock sets the clock), safe for concurrent use, declares
// every capability (WithCapabilities narrows them) and injects faults. In
// memory a call costs a map lookup or two, whatever the number of images;
// the Labels, Env and Refs of the images it returns are shared and must
// not be modified.
//
// # Images
//
// An image is a chain of layers (files, directories, symbolic links,
// whiteouts and opaque directories, as in layer tars) and a config (Env,
// Cmd, WorkingDir, Labels). Commit stacks the container's changes on its
// image's layers (Squash: one layer of the whole file system); the config
// is the container's, without any SecretEnv key, then CommitOptions'
// labels and changes. Image.Size sums the layers' regular files. A
// reference without tag means name:latest. PullImage loads what
// WithRegistry catalogues.
//
// PushImage and PullDigest (runtime.RegistryClient) talk to a real OCI
// registry: an image goes out as a real OCI image, a layer tar for each of
// its layers and a config, the same bytes for the same image, which any
// engine can pull and run; one pulled back by digest becomes an image of
// the fake named by that reference.
//
// # Containers and their shell
//
// Run interprets the command in a goroutine with mvdan.cc/sh, over the
// container's file system; nothing runs on the host. Cmd is ["sh", "-c",
// SCRIPT, ...], ["sh", FILE] or a single command. The environment is the
// image's Env, the spec's Env and SecretEnv, HOSTNAME and HOME=/root. The
// language is what busybox sh runs; what busybox lacks (arrays, ((...)),
// <<<, brace expansion, ...) is a syntax error, status 2, before anything
// runs. A trap of a signal may only ignore it (an empty action) or
// restore it (-). Commands are the interpreter's builtins and the applets
// the repository's scripts use: cat, sleep, touch, mkdir, rm, ls, wc,
// head, env (to print), kill (of the container itself) and sh; anything
// else is "not found", 127. The
// devices are /dev/null, /dev/zero, /dev/urandom (deterministic), /dev/stdin,
// /dev/stdout and /dev/stderr.
//
// A script ends on a signal with 128+signal, on a kill with 137. NanoCPUs
// is not enforced; reading more than MemoryBytes at once (head -c N) from
// /dev/zero or /dev/urandom ends the container with 137 and OOMKilled.
//
// # Persistence
//
// WithStateDir keeps the state in a directory that Runtimes of several
// processes share: every call takes a flock(2), reads the state file and
// saves what it changed atomically; layers and logs are files apart. A
// script runs in the process that started it, which polls the state
// (WithPollInterval) to obey Stop and Remove from others. A container
// whose process died counts as exited with 137 (its changes lost). Close
// kills the containers a Runtime runs.
//
// # Faults
//
// Faults (see Fault) come from WithFaults and Inject, or, for the plugin,
// from the driver option "faults" in ParseFaults' syntax. With a state dir
// the calls a fault targets are counted across processes, so a restarted
// driver does not crash again on its first call.
package fake
