// Package fake is a runtime.Runtime that runs no engine: the reference
// implementation berth's core is tested against, and the driver behind
// cmd/berth-driver-fake.
//
// It imports only the standard library and package runtime. It is
// deterministic (IDs come from counters and content hashes; the clock is
// injectable with WithClock), safe for concurrent use, declares every
// capability (pull, load, commit, squash, limits; WithCapabilities narrows
// them) and can inject faults.
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
// subset below. The process environment is the image's Env, then the
// spec's Env and SecretEnv, then HOSTNAME (the first 12 digits of the
// container ID) and HOME=/root unless set. The working directory is the
// spec's, else the image's, else /, created if missing. Standard output and
// error are kept for Logs, which with Follow streams them as they come and
// returns after the exit.
//
// Stop delivers its signal (default SIGTERM) to the script, then kills it
// after the grace period; a zero grace kills at once. A script ends on a
// signal it does not ignore with status 128+signal (143 for SIGTERM), on a
// kill with 137. Signals are seen between commands and during sleep and
// long output. Remove kills a running container, then forgets it.
//
// Limits: NanoCPUs is accepted and not enforced. With MemoryBytes set,
// head -c N from /dev/zero or /dev/urandom with N above the limit stands
// for a process outgrowing its memory: the container ends at once with
// exit status 137 and OOMKilled set.
//
// # The command language
//
// Cmd is ["sh", "-c", SCRIPT, [NAME, ARGS...]], ["sh", FILE] (a script file
// in the container), or a single command such as ["echo", "hi"]; an empty
// Cmd uses the image's. The language is a subset of POSIX sh that busybox
// sh runs the same way, so tests pass on the fake and on real engines:
//
//   - Commands are separated by ;, newlines, && and ||; a leading !
//     word negates a command's status. Comments start with #.
//   - Quoting: '...' (literal); "..." (expanding $, with a backslash
//     escaping dollar, backquote, double quote, backslash and newline);
//     a backslash outside quotes.
//   - Expansion: $NAME, ${NAME}, ${NAME:-word}, ${NAME-word},
//     ${NAME:=word}, ${NAME=word}, ${NAME:+word}, ${NAME+word}, $?, $$,
//     $#, $@, $*, $0 to $9. Unquoted expansions are split on blanks.
//     There is no pathname (glob) expansion and no tilde expansion.
//   - Assignments NAME=value, alone (a shell variable) or before a command
//     (in its environment only).
//   - Redirections: > FILE, >> FILE, < FILE, N> FILE, N>> FILE, >&2,
//     2>&1, N>&M (N, M in 1, 2), N>&- ; FILE may be /dev/null,
//     /dev/stdout or /dev/stderr.
//
// Builtins (every command is one; anything else prints "sh: NAME: not
// found" to stderr with status 127):
//
//	echo [-n] [-e] ARG...     print the arguments
//	cat [FILE|-]...           print files (- is the empty standard input)
//	mkdir [-p] DIR...         make directories
//	rm [-f] [-r|-R] PATH...   remove files, directories with -r
//	touch FILE...             create empty files (existing ones unchanged)
//	sleep N[s|m|h|d]...       sleep; fractions allowed; interruptible
//	exit [N]                  end the script with N (default $?)
//	true, false, :            status 0, 1, 0
//	test EXPR, [ EXPR ]       -e -f -d -s -x -L -z -n, = != -eq -ne -lt
//	                          -gt -le -ge, with a leading ! to negate
//	trap '' SIG...            ignore signals (TERM, SIGTERM or 15)
//	trap - SIG...             restore the default (end the script)
//	env [NAME=VALUE]... [CMD] print the exported environment, or run CMD
//	export NAME[=VALUE]...    export variables; unset NAME... drops them
//	pwd, cd [DIR]             print or change the working directory
//	head [-c N|-n N] [FILE]   first bytes or lines; N takes b, k, m
//	                          suffixes; FILE may be /dev/zero or
//	                          /dev/urandom (deterministic per container)
//	ls [-1] [-a] [PATH...]    list directories, one name a line, sorted
//	wc [-c] [-l] [-w] [FILE]  count ("6 FILE" for one count, as busybox)
//	sh -c SCRIPT, sh FILE     a nested shell
//
// Pipes, background jobs, subshells, command substitution, here-documents,
// functions and the compound commands (if, for, while, case, { }) are not
// supported: a script using them fails with a syntax error, status 2,
// before running anything. Commands given by path (/bin/echo) run the
// builtin if the file exists in the container.
//
// # Persistence
//
// WithStateDir keeps the state in a directory, so that Runtimes in separate
// processes (or in one) share images and containers: file systems, labels,
// states, exit statuses and logs. Every call takes a flock(2) on a lock
// file, reloads the state file if another writer changed it, and saves it
// atomically (temp file and rename). Layers are stored once each, by
// digest.
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
