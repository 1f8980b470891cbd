// The client's call for each operation of the API. The table's type
// names every operationId of the generated types: an operation added to
// api/openapi.yaml (and regenerated) fails the build of the tests until
// the client covers it here; the coverage test checks the same against
// the document the daemon serves, and makes each call.

import assert from "node:assert/strict";
import type { BerthClient, operations } from "@berth-dev/client";

/** What the calls need: a project of the test's own, and its base image. */
export interface Fixture {
  project: string;
  base: string;
}

type Call = (berth: BerthClient, f: Fixture) => Promise<void>;

export const calls: { [op in keyof operations]: Call } = {
  async createJob(berth, f) {
    const j = await berth.jobs.create({ image: f.base, cmd: ["true"], project: f.project }, { idempotencyKey: "ops-create" });
    assert.equal(j.spec.project, f.project);
  },
  async listJobs(berth, f) {
    assert.ok((await berth.jobs.list({ project: f.project })).length > 0);
  },
  async getJob(berth, f) {
    const [j] = await berth.jobs.list({ project: f.project, limit: 1 });
    assert.equal((await berth.jobs.get(j!.id)).id, j!.id);
  },
  async waitJob(berth, f) {
    const j = await berth.jobs.create({ image: f.base, cmd: ["true"], project: f.project }, { idempotencyKey: "ops-create" });
    assert.equal((await berth.jobs.wait(j.id)).exit_code, 0);
  },
  async cancelJob(berth, f) {
    const j = await berth.jobs.create({ image: f.base, cmd: ["true"], project: f.project }, { idempotencyKey: "ops-create" });
    await berth.jobs.wait(j.id);
    assert.equal((await berth.jobs.cancel(j.id)).state, "exited", "an ended job is left as it is");
  },
  async jobLogs(berth, f) {
    const j = await berth.jobs.create({ image: f.base, cmd: ["echo", "hi"], project: f.project });
    let out = "";
    for await (const c of berth.jobs.logs(j.id, { follow: true })) out += c.data;
    assert.equal(out, "hi\n");
  },
  async events(berth) {
    // An id the daemon never had gives every event it keeps, at once.
    for await (const ev of berth.events({ lastEventId: "never-had-this-id" })) {
      assert.match(ev.type, /^(job|snapshot)\./);
      assert.match(ev.id, /\S/);
      break;
    }
  },
  async listSnapshots(berth, f) {
    assert.ok(Array.isArray(await berth.snapshots.list({ project: f.project })));
  },
  async forkSnapshot(berth, f) {
    const j = await berth.jobs.create({ image: f.base, cmd: ["touch", "/made"], project: f.project, work_item: "ops-a" });
    assert.equal((await berth.jobs.wait(j.id)).commit.committed, true);
    const sn = await berth.snapshots.fork({ from: { project: f.project, work_item: "ops-a" }, to: { project: f.project, work_item: "ops-b" } });
    assert.equal(sn.work_item, "ops-b");
  },
  async deleteSnapshots(berth, f) {
    assert.equal((await berth.snapshots.delete(f.project, "ops-b")).length, 1);
  },
  async deleteProjectSnapshots(berth, f) {
    assert.ok((await berth.snapshots.deleteProject(f.project)).some((sn) => sn.work_item === "ops-a"));
  },
  async gc(berth) {
    assert.equal((await berth.gc({ dry_run: true })).dry_run, true);
  },
  async listGCRuns(berth) {
    await berth.gc({ dry_run: true });
    const [run] = await berth.gcRuns();
    assert.equal(run?.trigger, "request");
    assert.equal(run?.report.dry_run, true);
  },
  async diskUsage(berth) {
    assert.ok((await berth.diskUsage()).length > 0, "a sample from the daemon's start at least");
  },
  async listRuntimes(berth) {
    assert.ok((await berth.runtimes()).length > 0);
  },
  async openapi(berth) {
    assert.ok("paths" in (await berth.openapi()));
  },
  async health(berth) {
    assert.equal((await berth.health()).status, "ok");
  },
  async ready(berth) {
    assert.equal((await berth.ready()).status, "ready");
  },
  async metrics(berth) {
    assert.match(await berth.metrics(), /^berth_/m);
  },
};
