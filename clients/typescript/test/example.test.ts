// The example router (examples/router.ts), run as a user runs it, against
// a real berth serve: cold then warm for one ticket, with its secret.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { packageDir, rand, runtimeName, State, unavailable, type Daemon, limit } from "./daemon.js";

const run = promisify(execFile);
const skip = await unavailable();

describe(`examples/router (${runtimeName})`, { skip: skip || false }, () => {
  let s: State;
  let d: Daemon;
  before(async () => {
    s = await State.create();
    d = await s.serve();
  });
  after(async () => {
    await s?.remove();
  });

  it("spawns a job for a ticket with a secret, streams it, reports the snapshot and the commit", limit, async () => {
    const ticket = `TICKET-${rand()}`;
    const secret = "abcdefghij";
    const router = () =>
      run(process.execPath, [join(packageDir, "build/examples/router.js"), ticket], {
        env: {
          ...process.env,
          BERTH_HOST: `unix://${d.socketPath}`,
          BERTH_IMAGE: s.base,
          ROUTER_PROJECT: s.project,
          TOKEN: secret,
        },
        timeout: 120_000,
      });
    const cold = await router();
    assert.equal(
      cold.stdout,
      `set-up: installing (once)\nworking on ${ticket} (run 1) with a token of 10 characters\n` +
        `router: ${ticket}: exited, exit 0, snapshot miss (none), committed, generation 1 (` +
        cold.stdout.split("generation 1 (")[1],
    );
    assert.match(cold.stdout, /committed, generation 1 \(\d+ layers, \d+ bytes\)\n$/);
    const warm = await router();
    assert.match(warm.stdout, new RegExp(`^set-up: found in the snapshot\nworking on ${ticket} \\(run 2\\) with a token of 10 characters\n`));
    assert.match(warm.stdout, new RegExp(`router: ${ticket}: exited, exit 0, snapshot hit, committed, generation 2 `));
    assert.ok(!(cold.stdout + cold.stderr + warm.stdout + warm.stderr).includes(secret), "the secret is not printed");
  });
});
