// Names for the schemas of the OpenAPI document (src/openapi.gen.ts is
// generated from api/openapi.yaml by `npm run gen`).

import type { components, operations } from "./openapi.gen.js";

type Schemas = components["schemas"];

/** What a job asks for: the body of POST /v1/jobs. */
export type CreateJobRequest = Schemas["CreateJobRequest"];
/** A job: id, state, what was asked (spec) and when; once ended, its result too. */
export type Job = Schemas["Job"];
/** A job's state: queued and running are live; exited, failed and cancelled are final. */
export type JobState = Schemas["JobState"];
/** The job as recorded (secret env only by its keys). */
export type JobSpec = Schemas["JobSpec"];
/** Why berth could not run a job: a problem type and detail (see jobError). */
export type JobError = Schemas["JobError"];
/** Whether a snapshot was committed after a job, or why not. */
export type CommitResult = Schemas["CommitResult"];
/** Each phase of a job, in nanoseconds. */
export type Durations = Schemas["Durations"];
/** A chunk of a job's output as the daemon sends it (text, or base64 when `encoding` says so). */
export type WireLogChunk = Schemas["LogChunk"];
/** The data of an event of GET /v1/events. */
export type Event = Schemas["Event"];
/** An event's type. */
export type EventType = Event["type"];
/** A snapshot: the image a work item's next job starts from. */
export type Snapshot = Schemas["Snapshot"];
/** A work item of a project (project default `default`). */
export type WorkItemRef = Schemas["WorkItemRef"];
/** The body of POST /v1/snapshots/fork. */
export type ForkRequest = Schemas["ForkRequest"];
/** The body of POST /v1/gc. */
export type GCRequest = Schemas["GCRequest"];
/** What a sweep removed, or would remove. */
export type SweepReport = Schemas["SweepReport"];
/** A gc run (a sweep) that ended: when, why (timer or request), and its report. */
export type GCRun = Schemas["GCRun"];
/** A sample of the disk the snapshots use, in all and per project. */
export type DiskSample = Schemas["DiskSample"];
/** A project's snapshots in a DiskSample. */
export type ProjectUsage = Schemas["ProjectUsage"];
/** A runtime of the daemon and its engine's health. */
export type Runtime = Schemas["Runtime"];
/** The answer of /healthz and /readyz. */
export type Health = Schemas["Health"];
/** An RFC 9457 problem, as the daemon sends it. */
export type Problem = Schemas["Problem"];
/** The query of GET /v1/jobs. */
export type ListJobsQuery = NonNullable<operations["listJobs"]["parameters"]["query"]>;

/** The states of a job that has ended. */
export type EndedState = Extract<JobState, "exited" | "failed" | "cancelled">;

/**
 * A job that has ended: every field of `berth run --json` is there
 * (exit_code, snapshot_hit, snapshot_reason, commit, durations, ...), as
 * the document says of an ended job.
 */
export type EndedJob = Job &
  Required<
    Pick<
      Job,
      | "job_id"
      | "runtime"
      | "project"
      | "exit_code"
      | "timed_out"
      | "cancelled"
      | "oom_killed"
      | "image"
      | "snapshot_hit"
      | "snapshot_reason"
      | "commit"
      | "durations"
    >
  > & { state: EndedState };

/** Whether a job's state is final (exited, failed or cancelled). */
export function isEnded(job: Pick<Job, "state">): job is EndedJob {
  return job.state === "exited" || job.state === "failed" || job.state === "cancelled";
}

/** A chunk of a job's output. */
export interface LogChunk {
  /** The stream it was written to. */
  stream: "stdout" | "stderr";
  /**
   * The output: text, or the exact bytes when they are not valid UTF-8.
   * Either can be given to process.stdout.write.
   */
  data: string | Uint8Array;
}

/** An event of the daemon, with the id a stream resumes after. */
export type BerthEvent = Event & {
  /** Resumes a stream after this event (events' lastEventId). */
  id: string;
};

/** Every call takes an AbortSignal: aborting it rejects the call with the signal's reason. */
export interface CallOptions {
  signal?: AbortSignal;
}
