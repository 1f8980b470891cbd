// The daemon on TCP: every request needs the bearer token.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BerthClient, UnauthorizedError } from "@berth-dev/client";
import { freePort, rand, runtimeName, State, unavailable, type Daemon, limit } from "./daemon.js";

const skip = await unavailable();

describe(`berth serve on TCP with a token (${runtimeName})`, { skip: skip || false }, () => {
  let s: State;
  let d: Daemon;
  let baseUrl: string;
  const token = `t-${rand()}${rand()}`;
  before(async () => {
    s = await State.create();
    const tokenFile = join(s.dir, "token");
    await writeFile(tokenFile, token + "\n", { mode: 0o600 });
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    d = await s.serve(["--listen", `tcp://127.0.0.1:${port}`, "--token-file", tokenFile], { baseUrl, token });
  });
  after(async () => {
    await s?.remove();
  });

  it("runs a job with the token: create, logs, wait, events", limit, async () => {
    const berth = d.client;
    const item = `tcp-${rand()}`;
    const j = await berth.jobs.create({ image: s.base, cmd: ["sh", "-c", "echo over tcp; echo x > /made"], project: s.project, work_item: item });
    let out = "";
    for await (const c of berth.jobs.logs(j.id, { follow: true })) out += c.data;
    assert.equal(out, "over tcp\n");
    // The exit alone: the result is there, its commit done or pending.
    const exited = await berth.jobs.wait(j.id, { for: "exit" });
    assert.equal(exited.exit_code, 0);
    assert.ok(exited.state === "exited" || exited.commit.pending === true, `exited or committing: ${exited.state}`);
    const done = await berth.jobs.wait(j.id);
    assert.equal(done.exit_code, 0);
    assert.equal(done.commit.committed, true);
    assert.equal(done.commit.pending, undefined, "no longer pending once ended");
    const seen: string[] = [];
    for await (const ev of berth.events({ lastEventId: "from the start" })) {
      if (ev.job?.id === j.id) seen.push(ev.type);
      if (ev.type === "job.exited" && ev.job?.id === j.id) break;
    }
    assert.deepEqual(seen, ["job.queued", "job.started", "job.committing", "job.exited"]);
    assert.equal((await berth.snapshots.list({ project: s.project }))[0]?.work_item, item);
  });

  it("takes the daemon as the berth command names it (host)", limit, async () => {
    const berth = new BerthClient({ host: baseUrl.replace("http://", "tcp://"), token });
    try {
      assert.equal((await berth.ready()).status, "ready");
    } finally {
      await berth.close();
    }
  });

  it("throws UnauthorizedError without the token or with another", limit, async () => {
    for (const opts of [{ baseUrl }, { baseUrl, token: token + "x" }]) {
      const berth = new BerthClient(opts);
      try {
        for (const call of [() => berth.jobs.list(), () => berth.health(), () => berth.metrics()]) {
          const err = await call().then(
            () => assert.fail("answered without the right token"),
            (e: unknown) => e,
          );
          assert.ok(err instanceof UnauthorizedError, String(err));
          assert.equal(err.status, 401);
          assert.equal(err.retryable, false);
        }
        // A stream is refused too, at once (no retry of a 401).
        const err = await (async () => {
          for await (const _ of berth.events()) assert.fail("an event without the token");
        })().catch((e: unknown) => e);
        assert.ok(err instanceof UnauthorizedError, String(err));
      } finally {
        await berth.close();
      }
    }
  });
});
