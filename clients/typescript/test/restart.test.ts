// A wait and a log follow that survive a restart of the daemon: killed
// (kill -9) with the job running, a new daemon started on the same state
// directory, and the wait completes.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BerthClient, type EndedJob } from "@berth-dev/client";
import { eventually, onFake, rand, runtimeName, State, unavailable, limit } from "./daemon.js";

const skip = await unavailable();

describe(`a daemon restarted under its clients (${runtimeName})`, { skip: skip || false }, () => {
  let s: State;
  before(async () => {
    s = await State.create();
  });
  after(async () => {
    await s?.remove();
  });

  it("completes a wait and a log follow begun before the daemon was killed", limit, async () => {
    const first = await s.serve();
    const item = `restart-${rand()}`;
    const j = await first.client.jobs.create({
      image: s.base,
      cmd: ["sh", "-c", "echo a; sleep 3; touch /made; echo b"],
      project: s.project,
      work_item: item,
    });
    // The client of the test's own, on the socket both daemons serve.
    const berth = new BerthClient({ socketPath: first.socketPath });
    try {
      let out = "";
      let gotA!: () => void;
      const sawA = new Promise<void>((r) => (gotA = r));
      const following = (async () => {
        for await (const c of berth.jobs.logs(j.id, { follow: true })) {
          out += c.data;
          if (out.includes("a\n")) gotA();
        }
      })();
      const waiting = berth.jobs.wait(j.id);
      let settled: EndedJob | Error | undefined;
      void waiting.then(
        (v) => (settled = v),
        (e: Error) => (settled = e),
      );
      await sawA;
      assert.equal((await berth.jobs.get(j.id)).state, "running");

      await first.kill();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(settled, undefined, "the wait goes on while no daemon answers");

      const second = await s.serve();
      const done = await waiting;
      await following;
      assert.equal(done.id, j.id);
      assert.equal(done.reattached, 1, "the new daemon took the job over");
      if (onFake) {
        // The fake's container runs in its driver process, which died with
        // the daemon: the exit is 137 and nothing is committed.
        assert.equal(done.exit_code, 137);
        assert.equal(done.commit.committed, false);
        assert.equal(out, "a\n", "the output written before the kill, once");
      } else {
        assert.equal(done.exit_code, 0, "the job ran on while no daemon watched");
        assert.equal(done.commit.committed, true, JSON.stringify(done.commit));
        assert.equal(out, "a\nb\n", "the whole output, once");
      }
      await eventually("the job listed as ended", async () => (await berth.jobs.get(j.id)).state === done.state);
      assert.equal(await second.stop("SIGTERM"), 0, `berth serve's exit code (output ${second.output()})`);
    } finally {
      await berth.close();
    }
  });
});
