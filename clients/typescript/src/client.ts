// BerthClient: every operation of the daemon's API (api/openapi.yaml).

import { WaitTimeoutError } from "./errors.js";
import { events, type EventsOptions } from "./events.js";
import { connectionError, Transport, type BerthClientOptions } from "./http.js";
import { logs, type LogsOptions } from "./logs.js";
import { Backoff, transient } from "./retry.js";
import {
  isEnded,
  type BerthEvent,
  type CallOptions,
  type CreateJobRequest,
  type DiskSample,
  type EndedJob,
  type ForkRequest,
  type GCRequest,
  type GCRun,
  type Health,
  type Job,
  type ListJobsQuery,
  type LogChunk,
  type Runtime,
  type Snapshot,
  type SweepReport,
} from "./types.js";

/** Options of jobs.create. */
export interface CreateOptions extends CallOptions {
  /**
   * A key of the caller's: a create retried with the same key gets the
   * first one's job (201, the same id) and starts nothing.
   */
  idempotencyKey?: string;
}

/** Options of jobs.list: zero fields match all. */
export interface ListJobsOptions extends ListJobsQuery, CallOptions {}

/** Options of jobs.wait. */
export interface WaitOptions extends CallOptions {
  /**
   * Bounds the whole wait: once it passes, wait throws a
   * WaitTimeoutError with the job as last seen. Absent: until the job
   * ends or the signal aborts.
   */
  timeoutMs?: number;
  /**
   * "exit": return as soon as the job's container exited, while its commit
   * runs (`exited` set, `commit.pending` true; exit code and output final),
   * or once it ended. Default "end": once the job ended, its commit done.
   */
  for?: "end" | "exit";
}

/** Options of gc. */
export interface GCOptions extends GCRequest, CallOptions {}

/** The longest wait asked of the daemon in one request, and the margin kept before a caller's deadline. */
const maxPollMs = 60_000;
const pollMarginMs = 250;
/** How long past its poll a wait request may take before it counts as lost. */
const pollGraceMs = 30_000;

function jobPath(id: string, rest = ""): string {
  return `/v1/jobs/${encodeURIComponent(id)}${rest}`;
}

/** The jobs of the daemon: berth.jobs. */
export class Jobs {
  /** @internal */
  constructor(private readonly t: Transport) {}

  /** Creates a job and returns it as recorded (queued); it runs in the background. */
  create(req: CreateJobRequest, opts: CreateOptions = {}): Promise<Job> {
    const headers: Record<string, string> = {};
    if (opts.idempotencyKey !== undefined) headers["idempotency-key"] = opts.idempotencyKey;
    return this.t.json<Job>({ method: "POST", path: "/v1/jobs", headers, body: req, signal: opts.signal });
  }

  /** The jobs selected, newest first (limit: at most that many; 0 or absent: 100). */
  async list(opts: ListJobsOptions = {}): Promise<Job[]> {
    const { state, project, work_item, limit } = opts;
    const out = await this.t.json<{ jobs: Job[] }>({
      method: "GET",
      path: "/v1/jobs",
      query: { state, project, work_item, limit },
      signal: opts.signal,
    });
    return out.jobs;
  }

  /** Job id (JobNotFoundError if there is none). */
  get(id: string, opts: CallOptions = {}): Promise<Job> {
    return this.t.json<Job>({ method: "GET", path: jobPath(id), signal: opts.signal });
  }

  /**
   * Waits until job id has ended and returns it, with every field of its
   * result (exit_code, snapshot_hit, commit, durations, ...). It is made
   * of long polls of at most a minute each; a lost connection or a busy
   * daemon (a daemon restarting) is retried, so a wait survives a
   * restart of the daemon.
   */
  async wait(id: string, opts: WaitOptions = {}): Promise<EndedJob> {
    const path = jobPath(id, "/wait");
    const deadline = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
    const backoff = new Backoff();
    let last: Job | undefined;
    for (;;) {
      let poll = maxPollMs;
      if (deadline !== undefined) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new WaitTimeoutError(
            { status: 0, type: "", title: `job still ${last?.state ?? "unseen"} after ${opts.timeoutMs}ms`, op: `wait for job ${id}` },
            last,
          );
        }
        poll = Math.min(poll, left - pollMarginMs);
      }
      poll = Math.max(Math.floor(poll), 1);
      // A daemon that never answers (a connection lost without a reset)
      // counts as lost once the poll is well past.
      const guard = AbortSignal.timeout(poll + pollGraceMs);
      const signal = opts.signal ? AbortSignal.any([opts.signal, guard]) : guard;
      try {
        const until = opts.for ?? "end";
        const j = await this.t.json<Job>({ method: "GET", path, query: { timeout: `${poll}ms`, for: until }, signal });
        last = j;
        if (isEnded(j) || (until === "exit" && j.exited !== undefined)) return j as EndedJob;
        backoff.reset();
      } catch (e) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        const err = guard.aborted ? connectionError(`GET ${path}`, e, "no answer in time") : e;
        if (!transient(err)) throw err;
        const left = deadline === undefined ? undefined : deadline - Date.now();
        if (left !== undefined && left <= 0) continue; // time is up: the top of the loop says so
        await backoff.sleep(opts.signal, err, left);
      }
    }
  }

  /**
   * Cancels job id: a queued job ends cancelled at once, a running one is
   * stopped. Returns the job as it is after the call (wait for its end).
   * Cancelling an ended job changes nothing.
   */
  cancel(id: string, opts: CallOptions = {}): Promise<Job> {
    return this.t.json<Job>({ method: "POST", path: jobPath(id, "/cancel"), signal: opts.signal });
  }

  /**
   * Job id's output from its start, chunk by chunk in the order written
   * (process.stdout.write(chunk.data) writes it exactly). With follow it
   * goes on as the job writes, until the job has ended and its output is
   * all read, across restarts of the daemon.
   */
  logs(id: string, opts: LogsOptions = {}): AsyncGenerator<LogChunk> {
    return logs(this.t, id, opts);
  }
}

/** The snapshots of the daemon: berth.snapshots. */
export class Snapshots {
  /** @internal */
  constructor(private readonly t: Transport) {}

  /** The snapshots (of project, if given), least recently used first. */
  async list(opts: { project?: string } & CallOptions = {}): Promise<Snapshot[]> {
    const out = await this.t.json<{ snapshots: Snapshot[] }>({
      method: "GET",
      path: "/v1/snapshots",
      query: { project: opts.project },
      signal: opts.signal,
    });
    return out.snapshots;
  }

  /**
   * Removes the snapshots of a work item and returns them: NotFoundError
   * when it has none, WorkItemBusyError when its job runs past the
   * daemon's wait.
   */
  async delete(project: string, workItem: string, opts: CallOptions = {}): Promise<Snapshot[]> {
    const path = `/v1/snapshots/${encodeURIComponent(project)}/${encodeURIComponent(workItem)}`;
    const out = await this.t.json<{ removed: Snapshot[] }>({ method: "DELETE", path, signal: opts.signal });
    return out.removed;
  }

  /** Removes every snapshot of a project and returns them (NotFoundError when it has none). */
  async deleteProject(project: string, opts: CallOptions = {}): Promise<Snapshot[]> {
    const path = `/v1/snapshots/${encodeURIComponent(project)}`;
    const out = await this.t.json<{ removed: Snapshot[] }>({ method: "DELETE", path, signal: opts.signal });
    return out.removed;
  }

  /**
   * Gives work item `to` the newest snapshot of work item `from`, so that
   * its next job starts from it, and returns `to`'s new snapshot.
   * NotFoundError when `from` has none, InvalidJobError when `to` is
   * `from`, NotSupportedError when the runtime cannot copy images.
   */
  fork(req: ForkRequest, opts: CallOptions = {}): Promise<Snapshot> {
    return this.t.json<Snapshot>({ method: "POST", path: "/v1/snapshots/fork", body: req, signal: opts.signal });
  }
}

/**
 * A client of a berth daemon (`berth serve`), on its unix socket or over
 * TCP with its bearer token:
 *
 * ```ts
 * const berth = new BerthClient({ socketPath: "/var/lib/berth/berth.sock" });
 * const berth = new BerthClient({ baseUrl: "http://127.0.0.1:7400", token });
 * ```
 *
 * Every call takes an AbortSignal; an aborted call rejects with the
 * signal's reason. Error answers are thrown as BerthErrors of their
 * problem's kind (UnknownRuntimeError, JobNotFoundError, ...), with
 * `retryable` set on those worth retrying. Close the client (or `await
 * using` it) to close its connections.
 */
export class BerthClient {
  /** The jobs: create, list, get, wait, cancel, logs. */
  readonly jobs: Jobs;
  /** The snapshots: list, delete, deleteProject, fork. */
  readonly snapshots: Snapshots;
  private readonly t: Transport;

  constructor(opts: BerthClientOptions = {}) {
    this.t = new Transport(opts);
    this.jobs = new Jobs(this.t);
    this.snapshots = new Snapshots(this.t);
  }

  /**
   * The daemon's events (job.queued, job.started, job.committing, job.exited,
   * snapshot.committed, snapshot.evicted, gc.done: eventTypes) as they
   * come, each with its id; types the client does not know are skipped.
   * A dropped connection resumes after the last event yielded
   * (Last-Event-ID). It ends when the loop breaks; the signal's abort
   * throws its reason.
   */
  events(opts: EventsOptions = {}): AsyncGenerator<BerthEvent> {
    return events(this.t, opts);
  }

  /**
   * Sweeps as `berth gc` does: evicts snapshots past their TTL or over
   * the caps, removes orphaned containers and unused images; dry_run
   * reports what would go.
   */
  gc(opts: GCOptions = {}): Promise<SweepReport> {
    const { dry_run, orphan_grace } = opts;
    return this.t.json<SweepReport>({ method: "POST", path: "/v1/gc", body: { dry_run, orphan_grace }, signal: opts.signal });
  }

  /**
   * The gc runs this daemon made since it started (on its timer or
   * asked, dry runs included), newest first, with their reports: the
   * last 100.
   */
  async gcRuns(opts: CallOptions = {}): Promise<GCRun[]> {
    const out = await this.t.json<{ runs: GCRun[] }>({ method: "GET", path: "/v1/gc/runs", signal: opts.signal });
    return out.runs;
  }

  /**
   * The disk the snapshots used over time, in all and per project, oldest
   * sample first (a minute apart or more but for the newest; the daemon
   * keeps a day or more, since it started).
   */
  async diskUsage(opts: CallOptions = {}): Promise<DiskSample[]> {
    const out = await this.t.json<{ samples: DiskSample[] }>({ method: "GET", path: "/v1/disk", signal: opts.signal });
    return out.samples;
  }

  /** The daemon's runtimes, default first, with their engines' health. */
  async runtimes(opts: CallOptions = {}): Promise<Runtime[]> {
    const out = await this.t.json<{ runtimes: Runtime[] }>({ method: "GET", path: "/v1/runtimes", signal: opts.signal });
    return out.runtimes;
  }

  /** Whether the daemon is alive (/healthz). */
  health(opts: CallOptions = {}): Promise<Health> {
    return this.t.json<Health>({ method: "GET", path: "/healthz", signal: opts.signal });
  }

  /** Whether the daemon accepts jobs (/readyz): NotReadyError while it starts, DrainingError as it stops. */
  ready(opts: CallOptions = {}): Promise<Health> {
    return this.t.json<Health>({ method: "GET", path: "/readyz", signal: opts.signal });
  }

  /** The daemon's OpenAPI document (GET /v1/openapi.json). */
  openapi(opts: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.t.json<Record<string, unknown>>({ method: "GET", path: "/v1/openapi.json", signal: opts.signal });
  }

  /** The daemon's Prometheus metrics, in the text format (every name starts with berth_). */
  metrics(opts: CallOptions = {}): Promise<string> {
    return this.t.text({ method: "GET", path: "/metrics", signal: opts.signal });
  }

  /** Closes the client's connections; calls after it fail. */
  close(): Promise<void> {
    return this.t.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
