// Package fake is a runtime.Runtime that runs no engine: the reference
// implementation berth's core is tested against, and the driver behind
// cmd/berth-driver-fake.
//
// It imports only the standard library, package runtime and mvdan.cc/sh
// (its shell). It is deterministic (IDs come from counters and content
// hashes; the clock is injectable with WithClock), safe for concurrent use,
// declares every capability (pull, load, commit, squash, limits;
// WithCapabilities narrows them) and can inject faults. In memory, a call
// costs a map lookup or two, whatever the number of images: InspectImage
// and ListImages return images made once, whose Labels, Env and Refs the
// caller must not modify.
//
// # Images and file systems
//
// An image is a stack of layers and a config (Env, Cmd, WorkingDir,
// Labels). A layer maps absolute paths to files, directories and symbolic
// links, and lists whiteouts (a path and everything below it deleted) and
// opaque directories. A container sees its image's layers merged, plus a
// writable layer of its own. Commit stacks the container's changes on the
// image's layers as one new layer (Layers grows by one at each commit);
// with Squash, the new image has one layer holding the whole file system.
// The committed config is the container's: the image's Env with the spec's
// Env set (never any key of SecretEnv, nor its value), the spec's Cmd and
// WorkingDir if set; then the labels of CommitOptions are added to the
// image's and ConfigChanges applied. Commit refuses a running container
// (runtime.ErrFailedPrecondition) and a reference already in use
// (runtime.ErrAlreadyExists).
//
// Image.Size is the sum of the sizes of the regular files of every layer,
// as engines count it: it grows with every file written, and a squash
// drops what later layers hid.
//
// References are compared exactly, except that a reference without tag
// means name:latest. An image may have several references; RemoveImage of
// a reference removes that reference, and deletes the image when it was the
// last one or when given the image ID; deleting an image some container
// (in any state) uses fails with runtime.ErrConflict.
//
// LoadImage reads docker-save archives (manifest.json, image configs, layer
// tars, gzipped or not, with .wh. whiteouts and .wh..wh..opq opaque
// directories) and OCI image layouts (index.json, blobs/sha256/...). The
// fake has no registry: PullImage loads what WithRegistry catalogued under
// the reference, and returns runtime.ErrNotFound for anything else.
//
// # Containers
//
// Run starts the command in a goroutine, interpreting it with the shell
// below. The process environment is the image's Env, then the spec's Env
// and SecretEnv, then HOSTNAME (the first 12 digits of the container ID)
// and HOME=/root unless set. The working directory is the spec's, else the
// image's, else /, created if missing. Standard output and error are kept
// for Logs, which with Follow streams them as they come and returns after
// the exit.
//
// Stop delivers its signal (default SIGTERM) to the script, then kills it
// after the grace period; a zero grace kills at once. A script ends on a
// signal it does not ignore with status 128+signal (143 for SIGTERM), on a
// kill with 137. Remove kills a running container, then forgets it.
//
// Limits: NanoCPUs is accepted and not enforced. With MemoryBytes set,
// reading more than MemoryBytes from /dev/zero or /dev/urandom at once
// (head -c N, dd) stands for a process outgrowing its memory: the
// container ends at once with exit status 137 and OOMKilled set.
//
// # The shell
//
// Cmd is ["sh", "-c", SCRIPT, [NAME, ARGS...]], ["sh", FILE] (a script file
// in the container), or a single command such as ["echo", "hi"]; an empty
// Cmd uses the image's. Scripts run in mvdan.cc/sh's interpreter, over the
// container's file system; nothing runs on the host. The language is what
// busybox sh runs: POSIX sh with pipes, compound commands, functions,
// substitutions and globs, plus the bash extensions busybox has ([[ ]],
// let, ${x/a/b}, $'...'). A script using what busybox lacks (arrays,
// ((...)), process substitution, <<<, brace expansion, declare) fails with
// a syntax error, status 2, before running anything. Differences with
// busybox: $$ is the fake's process ID, and a trap of a signal may only
// ignore it (trap "" TERM) or restore it (trap - TERM).
//
// Commands are the interpreter's builtins (echo, printf, test, [, cd, pwd,
// read, exit, export, ...) and these applets: cat, sleep, touch, mkdir
// [-p], rm [-fr], ls [-1aA], wc [-clw], head and tail [-c N|-n N], env,
// seq, dd (if=, of=, bs=, count=), kill (of the container itself: $$ or
// 1), sync and sh. Anything else prints "sh: NAME: not found" with status
// 127, whatever the image holds; a command given by path (/bin/echo) runs
// the command of that name if the file exists, a file starting with #! runs
// as a script. The devices are /dev/null, /dev/zero, /dev/urandom
// (deterministic per container), /dev/stdin, /dev/stdout and /dev/stderr.
//
// # Persistence
//
// WithStateDir keeps the state in a directory, so that Runtimes in separate
// processes (or in one) share images and containers: file systems, labels,
// states, exit statuses and logs. Every call takes a flock(2) on a lock
// file, reads the state file and, if it changed the state, saves it
// atomically (temp file and rename). Layers are files apart, written once
// each: a loaded layer is named by its digest, a container's changes by
// the container.
//
// A container's script runs in the process that started it. Other
// processes see it running, read its logs from the state dir, and may Stop
// or Remove it: the running process polls the state every 20ms
// (WithPollInterval) and obeys. When the process running a container has
// died (its pid no longer runs), the container counts as exited with status
// 137 everywhere, so nothing waits for it forever (its file system changes
// are lost: a commit of it adds an empty layer). Close kills the containers
// a Runtime runs.
//
// # Faults
//
// A Fault makes the Nth call of an operation (OpCommit, OpWait, ...; 0
// means every call) return an error of a runtime error class, hang until
// its context is done, or end the process with status CrashExitCode (3), as
// a driver plugin dying mid-call; After makes it fire once the operation
// has taken effect. A Hang fault on OpExit makes the Nth container started
// run until stopped. Faults come from WithFaults, Inject, FailNth, HangNth
// and CrashNth, or, for the plugin, from the driver option "faults" in the
// syntax of ParseFaults: "commit:2:unavailable,wait:1:crash". Calls are
// counted per Runtime; with a state dir, the calls of the operations a
// fault targets are counted in the dir, across processes, so a driver
// process started again after a crash goes on counting (and does not crash
// again on its first call).
package fake
