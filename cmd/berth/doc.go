// Command berth runs short jobs in containers and reuses the file system a
// successful job leaves behind: after a job of a work item succeeds, berth
// commits its container to a snapshot image, and the next job of the same
// (project, work item) starts from that snapshot.
//
//	berth run [--runtime NAME] --image REF [--project ID] [--work-item ID] [--snapshot | --no-snapshot]
//	          [--env K=V]... [--secret-env K[=V]]... [--secret-env-file FILE]... [--label K=V]... [--timeout DURATION]
//	          [--memory SIZE] [--cpus N] [--json] -- CMD [ARG...]
//	berth snapshots ls [--project ID] [--json]
//	berth snapshots rm --project ID --work-item ID
//	berth snapshots fork --project ID --work-item ID [--to-project ID] --to-work-item ID [--json]
//	berth gc [--dry-run] [--orphan-grace DURATION] [--json]
//	berth images import [--runtime NAME] [--ref REF] FILE
//	berth plugins ls [--json]
//	berth version
//	berth serve [--listen ADDR] [--token-file FILE] [--tls-cert FILE --tls-key FILE] [--on-stop drain|leave]
//
// Global flags: --config FILE (env BERTH_CONFIG), --state-dir DIR (env
// BERTH_STATE_DIR), --log-level LEVEL (env BERTH_LOG_LEVEL), --runtime NAME
// (env BERTH_RUNTIME), --plugin-dir DIR (env BERTH_PLUGIN_DIR) and
// --metrics-file FILE (env BERTH_METRICS_FILE), --host ADDR (env
// BERTH_HOST) and --token-file FILE. Flags win over environment variables,
// which win over the config file.
//
// With a daemon named (--host, BERTH_HOST or the config's host:
// unix:///path or a socket path, tcp://HOST:PORT, https://HOST:PORT) the
// commands are clients of berth serve's API: run, snapshots ls, rm and
// fork, gc and plugins ls print what they print in process, with the same
// --json and exit codes. berth run makes the job from its flags and this
// command's config (job defaults, secret env) and sends it whole; it
// follows the job's output, rides out a daemon restart, and on SIGINT or
// SIGTERM cancels the job there, waits for its end and exits 130. plugins
// ls lists the daemon's runtimes. images import runs in process only and
// refuses when a daemon is named; --host "" runs any command in process. A
// daemon named but not answering is an error (125, one line naming it),
// never a fallback to running in process. On TCP berth sends the bearer
// token of --token-file, else the config's token_file, else BERTH_TOKEN.
// Through a daemon --metrics-file writes nothing (the daemon serves
// /metrics) and no commit progress is drawn on a terminal.
//
// Exit codes: berth run exits with the job's exit code, 124 when the job
// timed out, 130 when berth was interrupted (SIGINT or SIGTERM; the job is
// cancelled and its container removed) and 125 when berth itself failed
// (bad flags, unknown runtime, engine down, driver checksum mismatch, ...),
// after printing one line naming the problem on stderr. Every other command
// exits 0 on success and 125 on failure. A second SIGINT or SIGTERM ends
// berth at once, leaving the job's container to berth gc.
//
// Secret env reaches the job, never a snapshot, in three ways:
// --secret-env KEY takes the value of KEY in berth's own environment (an
// unset KEY is an error naming it), --secret-env-file FILE reads a dotenv
// file (KEY=VALUE lines, # comments, optional "export ", single or double
// quotes, no expansion), and --secret-env KEY=VALUE takes it from the
// command line, where other local users can read it (ps). The config's
// job.secret_env and job.secret_env_files do the same for every job; the
// flags come after them and win on the same key. No error message, log
// line, JSON result or metric berth writes holds a value: errors about an
// entry name its key or its position.
//
// Drivers run with a minimal environment: PATH, HOME, TMPDIR, USER,
// LOGNAME, LANG, LANGUAGE, LC_*, TZ, the proxy variables, SSL_CERT_FILE,
// SSL_CERT_DIR, the engines' own variables (DOCKER_HOST, DOCKER_CONTEXT,
// CONTAINER_HOST, CONTAINERD_ADDRESS, ...; see wire.DriverEnv) and those the runtime's
// env lists in the config, never one that holds a job's secret. A driver
// is never taken from the current directory (an empty or relative PATH
// entry), and a driver pinned by runtimes.NAME.sha256 runs from the very
// file that was checked.
//
// Without --json, berth run prints one summary line on stderr after the
// job: its outcome, snapshot hit or miss (and why), whether the container
// was committed (and why not) and the durations of the phases. With --json
// the job's stdout goes to stderr and the result (core.Result) is printed
// as one JSON object on stdout.
//
// Runtimes: with no --runtime, BERTH_RUNTIME or default_runtime, berth
// uses the first engine that answers: Docker, then Podman, then
// containerd, each asked through its driver. Without a configured address
// a driver finds its engine as the engine's own clients do (DOCKER_HOST or
// the Docker CLI's context; CONTAINER_HOST or Podman's rootless or rootful
// socket; CONTAINERD_ADDRESS or containerd's socket). "fake" is the fake
// runtime, with its state in STATE_DIR/fake (the built-in option state_dir
// "${state_dir}/fake"), so the whole CLI works without an engine. The
// driver of runtime NAME is the binary berth-driver-NAME that wire.Find
// finds in the plugin directories (default: the berth executable's
// directory, then ~/.local/lib/berth/plugins), then in PATH.
//
// The config file is YAML; internal/config/example.yaml shows every key.
// Unknown keys and malformed values are errors that name the key.
//
// With --metrics-file, berth adds the core's counters of the command
// (berth_jobs_total, berth_snapshot_hits_total, ...) to the counters already
// in FILE and rewrites it atomically in the Prometheus text format, for
// node_exporter's textfile collector. A failure to write it is a warning on
// stderr; the exit code stays the command's.
package main
