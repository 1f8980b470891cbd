// The package itself: its generated types match api/openapi.yaml, and
// npm pack holds the built package and nothing else.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { packageDir, limit } from "./daemon.js";

const run = promisify(execFile);

describe("the package", () => {
  it("has types generated from api/openapi.yaml as it is (npm run gen)", limit, async () => {
    const bin = join(packageDir, "node_modules/.bin/openapi-typescript");
    const { stdout } = await run(bin, ["../../api/openapi.yaml"], { cwd: packageDir, maxBuffer: 64 << 20 });
    const committed = await readFile(join(packageDir, "src/openapi.gen.ts"), "utf8");
    assert.ok(
      stdout === committed,
      "src/openapi.gen.ts differs from what api/openapi.yaml generates: run npm run gen in clients/typescript",
    );
  });

  it("packs the built JavaScript, its types, README, LICENSE and package.json, nothing else", limit, async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: packageDir });
    const [pack] = JSON.parse(stdout) as [{ name: string; files: { path: string }[] }];
    assert.equal(pack.name, "@berth-dev/client");
    const files = pack.files.map((f) => f.path).sort();
    // Every module of src/, built: its JavaScript and its declarations.
    const modules = (await readdir(join(packageDir, "src"))).filter((f) => f.endsWith(".ts")).map((f) => f.slice(0, -3));
    const want = ["LICENSE", "README.md", "package.json", ...modules.flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`])].sort();
    assert.deepEqual(files, want);
  });

  it("has an error class for every problem kind the document lists, retryable where it says Retry-After", limit, async () => {
    const pkg = await import("@berth-dev/client");
    const doc = await readFile(join(packageDir, "../../api/openapi.yaml"), "utf8");
    const problem = doc.slice(doc.indexOf("    Problem:\n"));
    const kinds = [...problem.matchAll(/`([a-z-]+)` (\d{3})( \(with\s+Retry-After\))?/g)];
    assert.ok(kinds.length >= 15, `the Problem schema lists the kinds: ${kinds.length} found`);
    for (const [, kind, status, retryAfter] of kinds) {
      const cls = pkg.problemClasses.get(kind!);
      assert.ok(cls, `a class for ${kind}`);
      const err = pkg.problemError({ status: Number(status), type: pkg.PROBLEM_TYPE_BASE + kind, title: "t", op: "GET /x" });
      assert.ok(err instanceof cls && err instanceof pkg.BerthError);
      assert.equal(err.kind, kind);
      if (retryAfter) assert.equal(err.retryable, true, `${kind} comes with Retry-After: retryable`);
    }
    // The retryable ones are those of the Go client (client.Retryable).
    const retryable = [...pkg.problemClasses].filter(([, c]) => c.retryable).map(([k]) => k);
    assert.deepEqual(retryable.sort(), [
      "draining",
      "engine-unavailable",
      "not-ready",
      "queue-timeout",
      "too-many-streams",
      "work-item-busy",
    ]);
    // An unknown kind is still a BerthError, of no subclass.
    const other = pkg.problemError({ status: 418, type: "about:blank", title: "teapot", op: "GET /x" });
    assert.equal(other.constructor, pkg.BerthError);
    assert.equal(other.retryable, false);
  });
});
