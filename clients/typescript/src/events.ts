// GET /v1/events: Server-Sent Events, resumed with Last-Event-ID.

import { BerthError } from "./errors.js";
import { connectionError, type Transport } from "./http.js";
import { lines } from "./lines.js";
import { protocolError } from "./logs.js";
import { Backoff, transient } from "./retry.js";
import type { BerthEvent, Event, EventType } from "./types.js";

/**
 * The event types of the document, the ones yielded: the daemon may send
 * more, which a client skips. The type below fails to compile when the
 * generated types gain one that is not listed.
 */
export const eventTypes = [
  "job.queued",
  "job.started",
  "job.committing",
  "job.exited",
  "snapshot.committed",
  "snapshot.evicted",
  "gc.done",
] as const satisfies readonly EventType[];
type Missing = Exclude<EventType, (typeof eventTypes)[number]>;
const allListed: [Missing] extends [never] ? true : Missing = true;
void allListed;
const known: ReadonlySet<string> = new Set(eventTypes);

/** Options of events. */
export interface EventsOptions {
  /**
   * Start after this event ("" or absent: the events from now on). An id
   * the daemon no longer has (or never had) gives every event it still
   * keeps.
   */
  lastEventId?: string;
  /**
   * A connection that brings nothing, not even the daemon's heartbeat
   * (every 15s), for this long is dropped and opened again (default
   * 60000).
   */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The daemon's events as they come (of the types in eventTypes; others
 * are skipped, as the document asks of clients). A dropped connection (a daemon
 * restarting, a slow reader disconnected, too many streams) is opened
 * again with Last-Event-ID, after the last event yielded: nothing the
 * daemon still keeps is missed or yielded twice. It goes on until the
 * loop breaks or the signal aborts (which throws its reason); an error
 * that retrying cannot mend (unauthorized, say) is thrown.
 */
export async function* events(t: Transport, opts: EventsOptions = {}): AsyncGenerator<BerthEvent> {
  const op = "GET /v1/events";
  const idleMs = opts.idleTimeoutMs ?? 60_000;
  let lastId = opts.lastEventId ?? "";
  const backoff = new Backoff();
  for (;;) {
    const ac = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
    let idle = false;
    let timer: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        ac.abort();
      }, idleMs);
      timer.unref();
    };
    let err: unknown;
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (lastId) headers["last-event-id"] = lastId;
      alive();
      const resp = await t.send({ method: "GET", path: "/v1/events", headers, signal });
      backoff.reset();
      let id = "";
      let name = "";
      let data: string | undefined;
      for await (const line of lines(resp.body ?? [])) {
        alive();
        if (line === "") {
          // The end of an event.
          if (data !== undefined) {
            const ev = decodeEvent(op, id, name, data);
            if (id) lastId = id;
            if (known.has(ev.type)) yield ev;
          }
          id = name = "";
          data = undefined;
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: a heartbeat
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        switch (field) {
          case "id":
            if (!value.includes("\0")) id = value;
            break;
          case "event":
            name = value;
            break;
          case "data":
            data = data === undefined ? value : data + "\n" + value;
            break;
        }
      }
      err = connectionError(op, new Error("the daemon ended the stream"), "stream ended");
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (idle) err = connectionError(op, new Error(`nothing for ${idleMs}ms`), "stream idle");
      else err = e instanceof BerthError ? e : connectionError(op, e, "stream broken");
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    if (!transient(err)) throw err;
    await backoff.sleep(opts.signal, err);
  }
}

function decodeEvent(op: string, id: string, name: string, data: string): BerthEvent {
  let ev: Event;
  try {
    ev = JSON.parse(data) as Event;
  } catch (e) {
    throw protocolError(op, `event ${id}: data is not JSON: ${(e as Error).message}`);
  }
  if (typeof ev !== "object" || ev === null) throw protocolError(op, `event ${id}: data is not an object`);
  if (!ev.type) ev.type = name as Event["type"];
  return { ...ev, id };
}
