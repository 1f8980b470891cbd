// Errors of the client: one class per problem kind of the daemon (RFC 9457
// problem+json, type https://berth.dev/problems/<kind>), plus the errors of
// the client itself (no answer at all, a wait whose time is up).

import type { Job } from "./types.js";

/** The prefix of every problem type the daemon sends: the type of kind k is PROBLEM_TYPE_BASE + k. */
export const PROBLEM_TYPE_BASE = "https://berth.dev/problems/";

/** The fields of an error answer of the daemon. */
export interface ProblemFields {
  /** The HTTP status (0 when there was no answer, or for a job's own error). */
  status: number;
  /** The problem type URI ("" when the answer was no problem of berth's). */
  type: string;
  /** The problem's title. */
  title: string;
  /** What went wrong, in a sentence. */
  detail?: string;
  /** The problem's instance URI, if the daemon sent one. */
  instance?: string;
  /** The Retry-After the daemon sent, in milliseconds. */
  retryAfterMs?: number;
  /** The call: its method and path ("job" for a job's own error). */
  op: string;
}

/**
 * BerthError is every error the client throws, but for an aborted call
 * (which rejects with its signal's reason, as fetch does). A subclass
 * per problem kind says what went wrong: test with instanceof
 * (`err instanceof UnknownRuntimeError`) or by `kind`.
 */
export class BerthError extends Error {
  /** The kind of problem: the last part of the problem type ("" for none of berth's). */
  static readonly kind: string = "";
  /** Whether a retry may succeed, for every error of the class. */
  static readonly retryable: boolean = false;

  readonly status: number;
  readonly type: string;
  readonly kind: string;
  readonly title: string;
  readonly detail?: string;
  readonly instance?: string;
  readonly retryAfterMs?: number;
  readonly op: string;

  constructor(p: ProblemFields, options?: { cause?: unknown }) {
    super(message(p), options);
    this.name = new.target.name;
    this.status = p.status;
    this.type = p.type;
    this.kind = problemKind(p.type);
    this.title = p.title;
    this.detail = p.detail;
    this.instance = p.instance;
    this.retryAfterMs = p.retryAfterMs;
    this.op = p.op;
  }

  /**
   * Whether a retry may succeed: the daemon is busy, starting or
   * stopping, the work item or the engine is busy or down, or the daemon
   * could not be reached at all.
   */
  get retryable(): boolean {
    return (this.constructor as typeof BerthError).retryable;
  }
}

function message(p: ProblemFields): string {
  const what = p.detail || p.title;
  const kind = problemKind(p.type);
  const status = p.status ? `${p.status}${kind ? " " + kind : ""}` : kind;
  return status ? `${p.op}: ${what} (${status})` : `${p.op}: ${what}`;
}

/** The kind of a problem type URI ("" if it is none of berth's). */
export function problemKind(type: string): string {
  return type.startsWith(PROBLEM_TYPE_BASE) ? type.slice(PROBLEM_TYPE_BASE.length) : "";
}

// The kinds of the core (core.ErrorKind) and of the HTTP layer (api.Kind*).

/** invalid-job, 400: the job asked for is not valid (also malformed JSON, unknown fields, a bad duration or size). */
export class InvalidJobError extends BerthError {
  static override readonly kind = "invalid-job";
}
/** invalid-request, 400: a malformed query parameter or body outside a job. */
export class InvalidRequestError extends BerthError {
  static override readonly kind = "invalid-request";
}
/** unknown-runtime, 422: the job names a runtime the daemon does not have. */
export class UnknownRuntimeError extends BerthError {
  static override readonly kind = "unknown-runtime";
}
/** queue-timeout, 503: the job waited too long for a slot. Retryable. */
export class QueueTimeoutError extends BerthError {
  static override readonly kind = "queue-timeout";
  static override readonly retryable = true;
}
/** work-item-busy, 409: a job of the work item kept running past the wait. Retryable. */
export class WorkItemBusyError extends BerthError {
  static override readonly kind = "work-item-busy";
  static override readonly retryable = true;
}
/** engine-unavailable, 503: the runtime's engine does not answer. Retryable. */
export class EngineUnavailableError extends BerthError {
  static override readonly kind = "engine-unavailable";
  static override readonly retryable = true;
}
/** job-not-found, 404: no job has this id (or its record was evicted). */
export class JobNotFoundError extends BerthError {
  static override readonly kind = "job-not-found";
}
/** not-found, 404: no such snapshot, image or path. */
export class NotFoundError extends BerthError {
  static override readonly kind = "not-found";
}
/** method-not-allowed, 405: the path exists, the method does not. */
export class MethodNotAllowedError extends BerthError {
  static override readonly kind = "method-not-allowed";
}
/** draining, 503: the daemon is stopping and takes no new job. Retryable (the next daemon will). */
export class DrainingError extends BerthError {
  static override readonly kind = "draining";
  static override readonly retryable = true;
}
/** closed, 503: the daemon's core is closed. */
export class ClosedError extends BerthError {
  static override readonly kind = "closed";
}
/** not-ready, 503: the daemon is starting (or no longer ready). Retryable. */
export class NotReadyError extends BerthError {
  static override readonly kind = "not-ready";
  static override readonly retryable = true;
}
/** too-many-streams, 503: the daemon serves its most log and event streams. Retryable. */
export class TooManyStreamsError extends BerthError {
  static override readonly kind = "too-many-streams";
  static override readonly retryable = true;
}
/** body-too-large, 413: the request's body is over the daemon's cap. */
export class BodyTooLargeError extends BerthError {
  static override readonly kind = "body-too-large";
}
/** unauthorized, 401: no bearer token, or the wrong one. */
export class UnauthorizedError extends BerthError {
  static override readonly kind = "unauthorized";
}
/** not-supported, 501: the operation is not supported (such as a fork on a runtime that cannot copy images). */
export class NotSupportedError extends BerthError {
  static override readonly kind = "not-supported";
}
/** cancelled, 503: the daemon's work on the request was cancelled (it is closing); on a job, the job was cancelled. */
export class CancelledError extends BerthError {
  static override readonly kind = "cancelled";
}
/** interrupted: a job's daemon stopped before the job started (a job's error). */
export class InterruptedError extends BerthError {
  static override readonly kind = "interrupted";
}
/** lost, 500: the job's container was lost (a job's error). */
export class LostError extends BerthError {
  static override readonly kind = "lost";
}
/** internal, 500: anything else. */
export class InternalError extends BerthError {
  static override readonly kind = "internal";
}

/**
 * ConnectionError: no answer from the daemon (not running, restarting,
 * unreachable, or the connection broke). Retryable. Its cause is the
 * network's error.
 */
export class ConnectionError extends BerthError {
  static override readonly retryable = true;
}

/**
 * WaitTimeoutError: jobs.wait's timeoutMs passed before the job ended.
 * `job` is the job as last seen (undefined if it never was).
 */
export class WaitTimeoutError extends BerthError {
  readonly job?: Job;
  constructor(p: ProblemFields, job?: Job) {
    super(p);
    this.job = job;
  }
}

/** The error classes of the problem kinds, by kind. */
export const problemClasses: ReadonlyMap<string, typeof BerthError> = new Map(
  [
    InvalidJobError,
    InvalidRequestError,
    UnknownRuntimeError,
    QueueTimeoutError,
    WorkItemBusyError,
    EngineUnavailableError,
    JobNotFoundError,
    NotFoundError,
    MethodNotAllowedError,
    DrainingError,
    ClosedError,
    NotReadyError,
    TooManyStreamsError,
    BodyTooLargeError,
    UnauthorizedError,
    NotSupportedError,
    CancelledError,
    InterruptedError,
    LostError,
    InternalError,
  ].map((c) => [c.kind, c]),
);

/** The error of problem p: of its kind's class, else a plain BerthError. */
export function problemError(p: ProblemFields): BerthError {
  const cls = problemClasses.get(problemKind(p.type)) ?? BerthError;
  return new cls(p);
}

/**
 * Why berth could not run the job, as an error of its kind's class
 * (undefined when it could, or while it runs): `jobError(done)` after a
 * wait tells a failed job's cause (`instanceof QueueTimeoutError`, ...).
 */
export function jobError(job: Job): BerthError | undefined {
  if (!job.error) return undefined;
  return problemError({ status: 0, type: job.error.type, title: "job failed", detail: job.error.detail, op: `job ${job.id}` });
}

/** Whether err may go away by itself: a BerthError that is retryable. */
export function isRetryable(err: unknown): boolean {
  return err instanceof BerthError && err.retryable;
}
