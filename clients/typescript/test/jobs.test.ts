// Jobs, snapshots and errors against a real berth serve (the fake, or
// Docker with BERTH_TS_RUNTIME=docker).

import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  BerthClient,
  BerthError,
  InvalidJobError,
  InvalidRequestError,
  JobNotFoundError,
  NotFoundError,
  TooManyStreamsError,
  UnknownRuntimeError,
  WaitTimeoutError,
  isEnded,
  jobError,
  type CreateJobRequest,
  type LogChunk,
} from "@berth-dev/client";
import { eventually, onFake, rand, runtimeName, State, unavailable, type Daemon, limit } from "./daemon.js";

const skip = await unavailable();

describe(`jobs through berth serve (${runtimeName})`, { skip: skip || false }, () => {
  let s: State;
  let d: Daemon;
  let berth: BerthClient;
  before(async () => {
    s = await State.create();
    d = await s.serve();
    berth = d.client;
  });
  after(async () => {
    await s?.remove();
  });

  const job = (script: string, more: Partial<CreateJobRequest> = {}): CreateJobRequest => ({
    image: s.base,
    cmd: ["sh", "-c", script],
    project: s.project,
    ...more,
  });

  /** The whole output of a job, by stream. */
  async function output(id: string): Promise<{ stdout: string; stderr: string }> {
    const out = { stdout: "", stderr: "" };
    for await (const c of berth.jobs.logs(id)) out[c.stream] += typeof c.data === "string" ? c.data : Buffer.from(c.data).toString();
    return out;
  }

  it("creates a job, streams its logs live, and waits for its whole result", limit, async () => {
    const j = await berth.jobs.create(job("echo first; echo oops >&2; sleep 2; echo second"));
    assert.match(j.id, /\S/);
    assert.ok(j.state === "queued" || j.state === "running", `a new job is live: ${j.state}`);
    assert.equal(j.spec.image, s.base);
    assert.deepEqual(j.spec.cmd, ["sh", "-c", "echo first; echo oops >&2; sleep 2; echo second"]);

    const out = { stdout: "", stderr: "" };
    let stateAtFirstChunk: string | undefined;
    for await (const c of berth.jobs.logs(j.id, { follow: true })) {
      stateAtFirstChunk ??= (await berth.jobs.get(j.id)).state;
      assert.equal(typeof c.data, "string");
      out[c.stream] += c.data;
    }
    assert.equal(stateAtFirstChunk, "running", "the first output arrives while the job runs");
    assert.deepEqual(out, { stdout: "first\nsecond\n", stderr: "oops\n" });

    const done = await berth.jobs.wait(j.id);
    assert.equal(done.id, j.id);
    assert.equal(done.state, "exited");
    assert.equal(done.job_id, j.id);
    assert.equal(done.exit_code, 0);
    assert.equal(done.timed_out, false);
    assert.equal(done.cancelled, false);
    assert.equal(done.snapshot_hit, false);
    assert.equal(done.snapshot_reason, "no-work-item");
    assert.deepEqual(done.commit, { committed: false, reason: "no-work-item" });
    assert.ok(done.durations.total > 0, "the durations are there");
    assert.equal(jobError(done), undefined);
    // The output stays readable after the end, without follow.
    assert.deepEqual(await output(j.id), out);
  });

  it("runs a work item warm the second time, from the first one's snapshot", limit, async () => {
    const item = `TICKET-${rand()}`;
    // Each run changes the file system (a run that changes nothing is not
    // committed: "unchanged").
    const script =
      "if [ -f /work/ready ]; then echo warm; else mkdir -p /work && echo built > /work/ready && echo cold; fi; echo run >> /work/runs";
    const first = await berth.jobs.wait((await berth.jobs.create(job(script, { work_item: item }))).id);
    assert.equal(first.exit_code, 0);
    assert.equal(first.snapshot_hit, false);
    assert.equal(first.commit.committed, true, `first commit: ${JSON.stringify(first.commit)}`);
    assert.equal(first.commit.generation, 1);
    assert.equal((await output(first.id)).stdout, "cold\n");

    const second = await berth.jobs.wait((await berth.jobs.create(job(script, { work_item: item }))).id);
    assert.equal(second.exit_code, 0);
    assert.equal(second.snapshot_hit, true, "the second run starts from the snapshot");
    assert.equal(second.snapshot_reason, "hit");
    assert.equal(second.image, first.commit.image, "it ran from the first job's snapshot");
    assert.equal(second.commit.committed, true);
    assert.equal(second.commit.generation, 2);
    assert.equal((await output(second.id)).stdout, "warm\n");
    // Without a registry, a snapshot is this host's own: never pulled,
    // pushed or failed to push (the fields are typed, and absent).
    assert.equal(second.pulled, undefined);
    assert.equal(second.commit.digest, undefined);
    assert.equal(second.commit.push_error, undefined);

    const snaps = (await berth.snapshots.list({ project: s.project })).filter((sn) => sn.work_item === item);
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0]!.generation, 2);
    assert.equal(snaps[0]!.image, second.commit.image);
    assert.equal(snaps[0]!.base_image, s.base);
  });

  it("cancels a running job", limit, async () => {
    const j = await berth.jobs.create(job("echo started; sleep 60; echo never"));
    await eventually("running", async () => (await berth.jobs.get(j.id)).state === "running");
    const after = await berth.jobs.cancel(j.id);
    assert.equal(after.id, j.id);
    const done = await berth.jobs.wait(j.id);
    assert.equal(done.state, "cancelled");
    assert.equal(done.cancelled, true);
    assert.equal(done.commit.committed, false);
    assert.equal((await output(j.id)).stdout, "started\n");
    // Cancelling an ended job changes nothing.
    assert.equal((await berth.jobs.cancel(j.id)).state, "cancelled");
  });

  it("throws typed errors from the daemon's problems", limit, async () => {
    const invalid = await rejection(berth.jobs.create({ ...job("true"), cmd: [] }));
    assert.ok(invalid instanceof InvalidJobError, String(invalid));
    assert.ok(invalid instanceof BerthError);
    assert.equal(invalid.status, 400);
    assert.equal(invalid.kind, "invalid-job");
    assert.equal(invalid.type, "https://berth.dev/problems/invalid-job");
    assert.equal(invalid.retryable, false);
    assert.match(invalid.message, /POST \/v1\/jobs: .*\(400 invalid-job\)/);

    const badDuration = await rejection(berth.jobs.create(job("true", { timeout: "soon" })));
    assert.ok(badDuration instanceof InvalidJobError, String(badDuration));

    const unknown = await rejection(berth.jobs.create(job("true", { runtime: "no-such-runtime" })));
    assert.ok(unknown instanceof UnknownRuntimeError, String(unknown));
    assert.equal(unknown.status, 422);
    assert.equal(unknown.retryable, false);

    const missing = await rejection(berth.jobs.get("no-such-job"));
    assert.ok(missing instanceof JobNotFoundError, String(missing));
    assert.equal(missing.status, 404);
    assert.ok((await rejection(berth.jobs.wait("no-such-job"))) instanceof JobNotFoundError);
    assert.ok((await rejection(drain(berth.jobs.logs("no-such-job", { follow: true })))) instanceof JobNotFoundError);

    const noSnap = await rejection(berth.snapshots.delete(s.project, "no-such-item"));
    assert.ok(noSnap instanceof NotFoundError, String(noSnap));
    const noFork = await rejection(
      berth.snapshots.fork({ from: { project: s.project, work_item: "no-such-item" }, to: { project: s.project, work_item: "x" } }),
    );
    assert.ok(noFork instanceof NotFoundError, String(noFork));

    const badLimit = await rejection(berth.jobs.list({ limit: 5000 }));
    assert.ok(badLimit instanceof InvalidRequestError, String(badLimit));
  });

  it("gives the first job to a create retried with the same Idempotency-Key", limit, async () => {
    const item = `idem-${rand()}`;
    const key = `${item}-attempt-1`;
    const a = await berth.jobs.create(job("echo once", { work_item: item }), { idempotencyKey: key });
    const b = await berth.jobs.create(job("echo once", { work_item: item }), { idempotencyKey: key });
    assert.equal(b.id, a.id);
    assert.equal(a.idempotency_key, key);
    await berth.jobs.wait(a.id);
    const listed = await berth.jobs.list({ project: s.project, work_item: item });
    assert.deepEqual(
      listed.map((j) => j.id),
      [a.id],
      "one job started",
    );
  });

  it("gives a job its secret env and never shows its value", limit, async () => {
    const secret = `s3cr3t-${rand()}`;
    const j = await berth.jobs.create(job('echo "token=$TOKEN"', { secret_env: { TOKEN: secret } }));
    const done = await berth.jobs.wait(j.id);
    assert.equal((await output(j.id)).stdout, `token=${secret}\n`);
    assert.deepEqual(done.spec.secret_env_keys, ["TOKEN"]);
    assert.ok(!JSON.stringify(done).includes(secret), "the value is in no record");
    assert.ok(!JSON.stringify(await berth.jobs.list({ project: s.project })).includes(secret));
  });

  // Docker's default log driver (json-file) keeps output as JSON text:
  // bytes that are not UTF-8 come back from the engine as U+FFFD.
  it("gives output that is not UTF-8 as its exact bytes", { ...limit, skip: onFake ? false : "the engine's json-file log driver does not keep them" }, async () => {
    const j = await berth.jobs.create(job("printf 'ok\\n'; printf '\\377\\376'"));
    await berth.jobs.wait(j.id);
    const chunks: LogChunk[] = [];
    for await (const c of berth.jobs.logs(j.id)) chunks.push(c);
    const bytes = Buffer.concat(chunks.map((c) => (typeof c.data === "string" ? Buffer.from(c.data) : c.data)));
    assert.deepEqual([...bytes], [0x6f, 0x6b, 0x0a, 0xff, 0xfe]);
    assert.ok(chunks.some((c) => c.data instanceof Uint8Array), "the invalid bytes came as bytes");
  });

  it("lists jobs newest first, by state, project and work item", limit, async () => {
    const item = `list-${rand()}`;
    const a = await berth.jobs.wait((await berth.jobs.create(job("true", { work_item: item }))).id);
    const b = await berth.jobs.wait((await berth.jobs.create(job("exit 3", { work_item: item }))).id);
    assert.equal(b.exit_code, 3);
    assert.equal(b.state, "exited");
    const listed = await berth.jobs.list({ project: s.project, work_item: item });
    assert.deepEqual(
      listed.map((j) => j.id),
      [b.id, a.id],
    );
    assert.ok(listed.every(isEnded));
    assert.deepEqual(
      (await berth.jobs.list({ project: s.project, work_item: item, limit: 1 })).map((j) => j.id),
      [b.id],
    );
    assert.deepEqual(await berth.jobs.list({ project: s.project, work_item: item, state: "running" }), []);
    assert.equal((await berth.jobs.get(a.id)).exit_code, 0);
  });

  it("stops every call when its signal aborts", limit, async () => {
    const aborted = await rejection(berth.jobs.get("x", { signal: AbortSignal.abort() }));
    assert.equal(aborted.name, "AbortError");

    const j = await berth.jobs.create(job("echo going; sleep 60"));
    const timedOut = await rejection(berth.jobs.wait(j.id, { signal: AbortSignal.timeout(300) }));
    assert.equal(timedOut.name, "TimeoutError", String(timedOut));

    const waitTimeout = await rejection(berth.jobs.wait(j.id, { timeoutMs: 500 }));
    assert.ok(waitTimeout instanceof WaitTimeoutError, String(waitTimeout));
    assert.equal(waitTimeout.job?.id, j.id);
    assert.ok(waitTimeout.job && !isEnded(waitTimeout.job), "the job as last seen: still live");

    const ac = new AbortController();
    const got: string[] = [];
    const follow = rejection(
      (async () => {
        for await (const c of berth.jobs.logs(j.id, { follow: true, signal: ac.signal })) {
          got.push(String(c.data));
          ac.abort();
        }
      })(),
    );
    assert.equal((await follow).name, "AbortError");
    assert.deepEqual(got, ["going\n"]);

    await berth.jobs.cancel(j.id);
    assert.equal((await berth.jobs.wait(j.id)).state, "cancelled");
  });

  it("retries a log stream the daemon refuses with too-many-streams", limit, async () => {
    const j = await berth.jobs.wait((await berth.jobs.create(job("echo streamed"))).id);
    // Take every stream slot the daemon has (64) with event streams.
    const held: Socket[] = [];
    try {
      for (;;) {
        const { sock, status } = await rawEvents(d.socketPath);
        if (status === 503) {
          sock.destroy();
          break;
        }
        held.push(sock);
        assert.ok(held.length <= 1000, "the daemon caps its streams");
      }
      // Without follow, the stream is tried three times, then the
      // problem is thrown, marked retryable.
      const refused = await rejection(drain(berth.jobs.logs(j.id)));
      assert.ok(refused instanceof TooManyStreamsError, String(refused));
      assert.equal(refused.status, 503);
      assert.equal(refused.retryable, true);
      assert.equal(refused.retryAfterMs, 1000);

      // With follow it keeps trying: a slot freed lets it through.
      const out = drain(berth.jobs.logs(j.id, { follow: true }));
      setTimeout(() => held.pop()!.destroy(), 1500);
      assert.equal((await out).map((c) => c.data).join(""), "streamed\n");
    } finally {
      for (const h of held) h.destroy();
    }
  });

  it("forks a work item, deletes snapshots, sweeps", limit, async () => {
    const a = `fork-a-${rand()}`;
    const b = `fork-b-${rand()}`;
    const made = await berth.jobs.wait(
      (await berth.jobs.create(job("mkdir -p /work && echo from-a > /work/f", { work_item: a }))).id,
    );
    assert.equal(made.commit.committed, true);
    const forked = await berth.snapshots.fork({ from: { project: s.project, work_item: a }, to: { project: s.project, work_item: b } });
    assert.equal(forked.work_item, b);
    assert.equal(forked.project, s.project);
    const onB = await berth.jobs.wait((await berth.jobs.create(job("cat /work/f", { work_item: b }))).id);
    assert.equal(onB.snapshot_hit, true, "b starts from a's snapshot");
    assert.equal((await output(onB.id)).stdout, "from-a\n");

    const removed = await berth.snapshots.delete(s.project, b);
    assert.deepEqual(
      removed.map((sn) => sn.work_item),
      [b],
    );
    assert.ok(!(await berth.snapshots.list({ project: s.project })).some((sn) => sn.work_item === b));

    const dry = await berth.gc({ dry_run: true });
    assert.equal(dry.dry_run, true);
    assert.ok(Array.isArray(dry.evicted));

    // The sweep asked is the newest gc run; the disk history has the
    // project's snapshots.
    const [run] = await berth.gcRuns();
    assert.equal(run?.trigger, "request");
    assert.deepEqual(run?.report, dry);
    const [newest] = (await berth.diskUsage()).slice(-1);
    const mine = newest?.projects.find((p) => p.project === s.project);
    assert.ok(mine && mine.snapshots >= 1 && mine.size_bytes > 0, `the project in the newest sample: ${JSON.stringify(newest)}`);

    const gone = await berth.snapshots.deleteProject(s.project);
    assert.ok(gone.some((sn) => sn.work_item === a), "the project's snapshots went");
    assert.deepEqual(await berth.snapshots.list({ project: s.project }), []);
    assert.ok((await rejection(berth.snapshots.deleteProject(s.project))) instanceof NotFoundError);
  });

  it("answers the daemon's own calls", limit, async () => {
    assert.deepEqual(await berth.health(), { status: "ok" });
    assert.equal((await berth.ready()).status, "ready");
    const rts = await berth.runtimes();
    assert.equal(rts[0]?.name, runtimeName);
    assert.equal(rts[0]?.default, true);
    assert.equal(rts[0]?.healthy, true);
    const doc = await berth.openapi();
    assert.equal(doc.openapi, "3.1.0");
    const metrics = await berth.metrics();
    assert.match(metrics, /^berth_\w+/m);
    assert.ok(!/^(?!#)(?!berth_)\w+/m.test(metrics), "every metric is berth_*");
    for (const name of ["snapshot_pushes_total", "snapshot_push_failures_total", "snapshot_pulls_total", "snapshot_pull_failures_total"]) {
      assert.match(metrics, new RegExp(`^berth_${name} 0$`, "m"), `the registry's counter ${name}, 0 without a registry`);
    }
    const report = await berth.gc();
    assert.equal(report.dry_run, false);
    assert.equal(report.evicted_shared, undefined, "no shared snapshots without a registry");
  });

  it("has a call for every operation of the daemon's OpenAPI document", limit, async () => {
    const doc = (await berth.openapi()) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const served = new Set<string>();
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) if (op && typeof op === "object" && op.operationId) served.add(op.operationId);
    }
    // The client's calls, by operation: test/operations.ts must name
    // every operation of the generated types (or it does not compile).
    const { calls } = await import("./operations.js");
    assert.deepEqual([...served].sort(), Object.keys(calls).sort());
    for (const [op, call] of Object.entries(calls)) {
      await assert.doesNotReject(call(berth, { project: s.project, base: s.base }), `operation ${op}`);
    }
  });

  if (!onFake) {
    it("leaves no container behind", limit, async () => {
      // Checked through the daemon: gc finds no orphaned container.
      const rep = await berth.gc({ dry_run: true, orphan_grace: "0s" });
      assert.deepEqual(rep.removed_containers, []);
    });
  }
});

/** The error fn's promise rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error & Record<string, any>> {
  try {
    await p;
  } catch (e) {
    return e as Error & Record<string, any>;
  }
  assert.fail("the call did not fail");
}

/** Every item of it. */
async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Opens an event stream by hand on the daemon's socket; status is its answer's. */
function rawEvents(socketPath: string): Promise<{ sock: Socket; status: number }> {
  return new Promise((done, fail) => {
    const sock = connect(socketPath);
    let head = "";
    sock.setEncoding("latin1");
    sock.once("error", fail);
    sock.once("connect", () => sock.write("GET /v1/events HTTP/1.1\r\nHost: berth\r\nAccept: text/event-stream\r\n\r\n"));
    sock.on("data", function onData(chunk: string) {
      head += chunk;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (m) {
        sock.off("data", onData);
        sock.resume();
        done({ sock, status: Number(m[1]) });
      }
    });
  });
}
