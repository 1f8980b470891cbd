// GET /v1/jobs/{id}/logs: newline-delimited JSON, one LogChunk a line.

import { BerthError } from "./errors.js";
import { connectionError, type Transport } from "./http.js";
import { lines } from "./lines.js";
import { Backoff, transient } from "./retry.js";
import { isEnded, type Job, type LogChunk, type WireLogChunk } from "./types.js";

/** Options of jobs.logs. */
export interface LogsOptions {
  /** Go on until the job has ended and its output is all read (default: the output so far). */
  follow?: boolean;
  signal?: AbortSignal;
}

/** A non-follow stream is tried again at most this many times. */
const maxTries = 3;

/**
 * The output of job id, chunk by chunk in the order written. A broken
 * stream (a daemon restarting, too many streams at once) is opened again
 * and resumes where it broke: every byte is yielded once. With follow it
 * ends once the job has ended and its output is all yielded; it keeps
 * trying while the daemon is away, until the signal aborts.
 */
export async function* logs(t: Transport, id: string, opts: LogsOptions = {}): AsyncGenerator<LogChunk> {
  const path = `/v1/jobs/${encodeURIComponent(id)}/logs`;
  const op = `GET ${path}`;
  const written = { stdout: 0, stderr: 0 }; // bytes yielded, by stream
  const backoff = new Backoff();
  for (let tries = 1; ; tries++) {
    const seen = { stdout: 0, stderr: 0 }; // bytes of this connection, by stream
    const ac = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
    let err: unknown;
    try {
      const resp = await t.send({ method: "GET", path, query: { follow: opts.follow ? "true" : undefined }, signal });
      backoff.reset();
      for await (const line of lines(resp.body ?? [])) {
        if (line.trim() === "") continue;
        const { stream, bytes, text } = decodeChunk(op, line);
        const off = seen[stream];
        seen[stream] += bytes.length;
        if (seen[stream] <= written[stream]) continue; // yielded before the stream broke
        const skip = Math.max(written[stream] - off, 0);
        written[stream] = seen[stream];
        yield { stream, data: skip === 0 ? (text ?? bytes) : asText(bytes.subarray(skip)) };
      }
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      err = e instanceof BerthError ? e : connectionError(op, e, "stream broken");
    } finally {
      ac.abort();
    }
    if (err === undefined) {
      if (!opts.follow) return;
      // The stream ends with the job's output, or when the daemon stops:
      // only the job's end ends a follow.
      try {
        const j = await t.json<Job>({ method: "GET", path: `/v1/jobs/${encodeURIComponent(id)}`, signal: opts.signal });
        if (isEnded(j)) return;
        err = connectionError(op, new Error("the stream ended before the job"), "stream cut");
      } catch (e) {
        if (opts.signal?.aborted) throw opts.signal.reason;
        err = e;
      }
    }
    if (!transient(err) || (!opts.follow && tries >= maxTries)) throw err;
    await backoff.sleep(opts.signal, err);
  }
}

/** A line of the stream: its stream, its bytes, and its text when it came as text. */
function decodeChunk(op: string, line: string): { stream: "stdout" | "stderr"; bytes: Uint8Array; text?: string } {
  let c: WireLogChunk;
  try {
    c = JSON.parse(line) as WireLogChunk;
  } catch (e) {
    throw protocolError(op, `a line is not JSON: ${(e as Error).message}`);
  }
  if (c.stream !== "stdout" && c.stream !== "stderr") throw protocolError(op, `unknown stream ${JSON.stringify(c.stream)}`);
  if (typeof c.data !== "string") throw protocolError(op, "a chunk without data");
  if (c.encoding === undefined) return { stream: c.stream, bytes: Buffer.from(c.data, "utf8"), text: c.data };
  if (c.encoding !== "base64") throw protocolError(op, `unknown encoding ${JSON.stringify(c.encoding)}`);
  return { stream: c.stream, bytes: new Uint8Array(Buffer.from(c.data, "base64")) };
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** b as text when it is valid UTF-8, else b itself. */
function asText(b: Uint8Array): string | Uint8Array {
  try {
    return strict.decode(b);
  } catch {
    return b;
  }
}

/** An answer that breaks the API's contract: not retried. */
export function protocolError(op: string, what: string): BerthError {
  return new BerthError({ status: 0, type: "", title: `unexpected answer: ${what}`, op });
}
