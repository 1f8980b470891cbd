// The event stream: live events, Last-Event-ID, and the resume after a
// dropped connection, through a proxy the test cuts.

import assert from "node:assert/strict";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BerthClient, eventTypes, type BerthEvent, type CreateJobRequest } from "@berth-dev/client";
import { eventually, runtimeName, State, unavailable, type Daemon, limit } from "./daemon.js";

const skip = await unavailable();

describe(`events through berth serve (${runtimeName})`, { skip: skip || false }, () => {
  let s: State;
  let d: Daemon;
  before(async () => {
    s = await State.create();
    d = await s.serve();
  });
  after(async () => {
    await s?.remove();
  });

  const job = (script: string): CreateJobRequest => ({ image: s.base, cmd: ["sh", "-c", script], project: s.project });

  /** The events of job id, in order, by type. */
  const ofJob = (evs: BerthEvent[], id: string) => evs.filter((e) => e.job?.id === id).map((e) => e.type);
  // Every event yielded is of a type the client knows.
  const knownOnly = (evs: BerthEvent[]) => assert.deepEqual(evs.filter((e) => !eventTypes.includes(e.type)), []);

  it("streams a job's events as they happen", limit, async () => {
    const ac = new AbortController();
    const got: BerthEvent[] = [];
    const berth = new BerthClient({ socketPath: d.socketPath });
    const it = berth.events({ signal: ac.signal });
    // The first event is one this test makes, once the stream is open.
    const open = await openEventStreams(d);
    const first = it.next();
    await eventually("the stream open", async () => (await openEventStreams(d)) > open);
    const j = await d.client.jobs.create(job("echo hi"));
    got.push((await first).value as BerthEvent);
    for await (const ev of it) {
      got.push(ev);
      if (ev.type === "job.exited" && ev.job?.id === j.id) break;
    }
    assert.deepEqual(ofJob(got, j.id), ["job.queued", "job.started", "job.exited"]);
    knownOnly(got);
    const exited = got.at(-1)!;
    assert.equal(exited.job?.exit_code, 0, "the exited event carries the result");
    assert.ok(!Number.isNaN(Date.parse(exited.time)));
    assert.equal(new Set(got.map((e) => e.id)).size, got.length, "every event has its own id");

    // Resuming after the first event gives the ones after it.
    const resumed: BerthEvent[] = [];
    for await (const ev of berth.events({ lastEventId: got[0]!.id })) {
      resumed.push(ev);
      if (ev.id === exited.id) break;
    }
    assert.deepEqual(
      resumed.map((e) => e.id),
      got.slice(1).map((e) => e.id),
    );
    await berth.close();
  });

  it("resumes after a dropped connection with Last-Event-ID, missing nothing", limit, async () => {
    const proxy = await Proxy.start(d.socketPath, join(s.dir, "proxy.sock"));
    const berth = new BerthClient({ socketPath: proxy.path });
    const ac = new AbortController();
    const got: BerthEvent[] = [];
    const reading = (async () => {
      try {
        for await (const ev of berth.events({ signal: ac.signal })) got.push(ev);
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      }
    })();
    try {
      await eventually("the stream open", async () => proxy.answered.includes(": berth events"));
      const a = await d.client.jobs.create(job("echo a"));
      await eventually("a's events", async () => ofJob(got, a.id).includes("job.exited"));
      const lastBeforeCut = got.at(-1)!.id;

      // The connection drops, and no new one gets through while job b
      // runs its course.
      proxy.refuse = true;
      proxy.cut();
      const b = await d.client.jobs.create(job("echo b"));
      await d.client.jobs.wait(b.id);
      assert.deepEqual(ofJob(got, b.id), [], "nothing came while the proxy was down");
      proxy.refuse = false;

      await eventually("b's events, after the reconnect", async () => ofJob(got, b.id).includes("job.exited"));
      assert.deepEqual(ofJob(got, a.id), ["job.queued", "job.started", "job.exited"], "a's events once");
      assert.deepEqual(ofJob(got, b.id), ["job.queued", "job.started", "job.exited"], "b's events, missed while cut, once");
      assert.equal(new Set(got.map((e) => e.id)).size, got.length, "no event twice");
      knownOnly(got);

      const requests = proxy.requests.filter((r) => r.startsWith("GET /v1/events "));
      assert.ok(requests.length >= 2, `the client connected again: ${requests.length} requests`);
      assert.doesNotMatch(requests[0]!, /last-event-id/i, "the first connection starts from now");
      for (const r of requests.slice(1)) {
        assert.match(r, new RegExp(`^last-event-id: ${lastBeforeCut}\\r$`, "im"), "each reconnect resumes after the last event seen");
      }
    } finally {
      ac.abort();
      await reading;
      await berth.close();
      await proxy.close();
    }
  });

  it("streams a gc run's end", limit, async () => {
    const berth = new BerthClient({ socketPath: d.socketPath });
    const ac = new AbortController();
    const it = berth.events({ signal: ac.signal });
    const open = await openEventStreams(d);
    const next = it.next();
    await eventually("the stream open", async () => (await openEventStreams(d)) > open);
    const report = await d.client.gc({ dry_run: true });
    const ev = (await next).value as BerthEvent;
    assert.equal(ev.type, "gc.done");
    assert.equal(ev.gc?.trigger, "request");
    assert.deepEqual(ev.gc?.report, report);
    ac.abort();
    await assert.rejects(it.next(), { name: "AbortError" });
    await berth.close();
  });

  it("ends its stream when the loop breaks", limit, async () => {
    const before = await openEventStreams(d);
    const berth = new BerthClient({ socketPath: d.socketPath });
    for await (const _ of berth.events({ lastEventId: "unknown: the whole buffer" })) break;
    await eventually("the stream closed in the daemon", async () => (await openEventStreams(d)) === before, 10_000);
    await berth.close();
  });
});

/** The event streams the daemon has open, from its metrics. */
async function openEventStreams(d: Daemon): Promise<number> {
  const m = /^berth_streams_open\{kind="events"\} (\d+)/m.exec(await d.client.metrics());
  return m ? Number(m[1]) : 0;
}

/**
 * A unix socket proxy to the daemon's socket that records the requests
 * and what the daemon answered, and can cut its connections and refuse
 * new ones.
 */
class Proxy {
  refuse = false;
  requests: string[] = [];
  answered = "";
  private readonly conns = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  static async start(target: string, path: string): Promise<Proxy> {
    const server = createServer();
    const p = new Proxy(path, server);
    server.on("connection", (client) => {
      if (p.refuse) return void client.destroy();
      const upstream = connect(target);
      p.conns.add(client).add(upstream);
      let head = "";
      client.on("data", (b: Buffer) => {
        if (head.length < 4096) {
          head += b.toString("latin1");
          if (head.includes("\r\n\r\n")) p.requests.push(head.slice(0, head.indexOf("\r\n\r\n")));
        }
        upstream.write(b);
      });
      upstream.on("data", (b: Buffer) => {
        p.answered += b.toString("latin1");
        client.write(b);
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        p.conns.delete(client);
        p.conns.delete(upstream);
      };
      client.on("close", end).on("error", end);
      upstream.on("close", end).on("error", end);
    });
    await new Promise<void>((r) => server.listen(path, r));
    return p;
  }

  /** Drops every connection. */
  cut(): void {
    for (const c of this.conns) c.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}
