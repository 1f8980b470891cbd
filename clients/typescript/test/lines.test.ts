// The line reader under the log and event streams: lines split across
// chunks, and the three line ends Server-Sent Events allow.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lines } from "../src/lines.js";

async function read(chunks: string[]): Promise<string[]> {
  const enc = new TextEncoder();
  const out: string[] = [];
  for await (const l of lines(chunks.map((c) => enc.encode(c)))) out.push(l);
  return out;
}

describe("lines", () => {
  it("splits on \\n, \\r\\n and \\r, across chunks", async () => {
    assert.deepEqual(await read(["a\nb", "c\r\nd\re\n\n"]), ["a", "bc", "d", "e", ""]);
    // A \r\n split between two chunks is one line end.
    assert.deepEqual(await read(["id: 1\r", "\ndata: x\r", "\n\r", "\n"]), ["id: 1", "data: x", ""]);
    assert.deepEqual(await read(["x\r", "y"]), ["x", "y"]);
  });

  it("keeps a character split between chunks whole, and yields a last line without its end", async () => {
    const bytes = new TextEncoder().encode("é€\nlast");
    const out: string[] = [];
    for await (const l of lines([bytes.subarray(0, 1), bytes.subarray(1, 3), bytes.subarray(3)])) out.push(l);
    assert.deepEqual(out, ["é€", "last"]);
  });
});
