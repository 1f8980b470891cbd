// router: what a job router does with berth. For a work item (a ticket),
// it spawns a job with a secret, streams its output as it comes, and
// reports whether the job ran warm (on the work item's snapshot) or cold,
// and whether its end was committed as the work item's next snapshot.
//
//   npm run build && npm run build:test
//   BERTH_HOST=unix://$STATE_DIR/berth.sock BERTH_IMAGE=berth-demo/base:latest \
//     TOKEN=... node build/examples/router.js TICKET-42
//
// Ctrl-C cancels the job in the daemon and waits for its end.

import { BerthClient, BerthError, jobError } from "@berth-dev/client";

const ticket = process.argv[2];
if (!ticket) {
  console.error("usage: router TICKET");
  process.exit(2);
}
const project = process.env.ROUTER_PROJECT ?? "web";
const image = process.env.BERTH_IMAGE ?? "berth-demo/base:latest";

// BERTH_HOST and BERTH_TOKEN, as the berth command takes them; or
// new BerthClient({ socketPath }) / new BerthClient({ baseUrl, token }).
const berth = new BerthClient();

// The work: a slow set-up that only a cold run pays, then the ticket's
// own step, whose state the next run finds. The token reaches the job,
// never its snapshot or the records.
const script = `
if [ -f /work/deps/ready ]; then echo "set-up: found in the snapshot"
else echo "set-up: installing (once)"; mkdir -p /work/deps; echo ok > /work/deps/ready; fi
echo run >> /work/runs
echo "working on ${ticket} (run $(wc -l < /work/runs)) with a token of \${#TOKEN} characters"
`;

try {
  const job = await berth.jobs.create(
    { image, cmd: ["sh", "-c", script], project, work_item: ticket, secret_env: { TOKEN: process.env.TOKEN ?? "" } },
    // A router that retries its own request after a crash gets the same job.
    { idempotencyKey: process.env.ROUTER_ATTEMPT ? `${ticket}-${process.env.ROUTER_ATTEMPT}` : undefined },
  );
  console.error(`router: ${ticket}: job ${job.id} ${job.state}`);

  const stop = new AbortController();
  process.once("SIGINT", () => {
    console.error(`router: cancelling job ${job.id}`);
    void berth.jobs.cancel(job.id);
    stop.abort();
  });

  // The output as it comes; a restart of the daemon does not cut it.
  try {
    for await (const chunk of berth.jobs.logs(job.id, { follow: true, signal: stop.signal })) {
      (chunk.stream === "stdout" ? process.stdout : process.stderr).write(chunk.data);
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  }

  const done = await berth.jobs.wait(job.id);
  const why = jobError(done);
  if (why) console.error(`router: ${ticket}: berth could not run the job: ${why.message}`);
  const snapshot = done.snapshot_hit ? "hit" : `miss (${done.snapshot_reason})`;
  const commit = done.commit.committed
    ? `committed, generation ${done.commit.generation} (${done.commit.layers} layers, ${done.commit.size} bytes)`
    : `not committed (${done.commit.reason})`;
  console.log(`router: ${ticket}: ${done.state}, exit ${done.exit_code}, snapshot ${snapshot}, ${commit}`);
  process.exitCode = done.state === "exited" ? done.exit_code : 1;
} catch (err) {
  // Errors are typed by the daemon's problem: retryable ones may be
  // tried again later (a busy work item, an engine down, a full queue).
  if (err instanceof BerthError) {
    console.error(`router: ${ticket}: ${err.message}${err.retryable ? " (retryable)" : ""}`);
    process.exitCode = err.retryable ? 75 : 1;
  } else {
    throw err;
  }
} finally {
  await berth.close();
}
