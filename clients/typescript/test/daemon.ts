// Test support: a real `berth serve` on a fresh state directory, with a
// base image imported, on the runtime BERTH_TS_RUNTIME names (default the
// fake). The binaries come from `make build` (bin/ at the repository's
// root, or BERTH_BIN_DIR).

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { BerthClient, type BerthClientOptions } from "@berth-dev/client";

const run = promisify(execFile);

/** The package's directory (this file runs from build/test/). */
export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The berth repository's root. */
export const repoRoot = resolve(packageDir, "../..");
const binDir = process.env.BERTH_BIN_DIR ?? join(repoRoot, "bin");
/** The berth command. */
export const berthBin = join(binDir, "berth");

/** The runtime under test: fake (default) or docker. */
export const runtimeName = process.env.BERTH_TS_RUNTIME || "fake";
/** Whether the runtime is the fake (whose containers die with their driver). */
export const onFake = runtimeName === "fake";

const dockerSocket = "/var/run/docker.sock";

/** Each test's time limit: a hang fails the test, and its after hooks stop its daemons. */
export const limit = { timeout: onFake ? 60_000 : 180_000 };

// The daemons started and not yet stopped: killed if the test process
// ends (or is stopped) before their after hooks ran.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const p of running) p.kill("SIGKILL");
    process.exit(128 + (sig === "SIGINT" ? 2 : 15));
  });
}

/**
 * Why the suite cannot run here ("" when it can): the binaries are
 * missing, or the runtime's engine does not answer. In CI (CI=true) a
 * missing engine fails the suite instead of skipping it.
 */
export async function unavailable(): Promise<string> {
  for (const b of ["berth", `berth-driver-${runtimeName}`]) {
    if (!existsSync(join(binDir, b))) throw new Error(`${join(binDir, b)} missing: run make build first`);
  }
  if (runtimeName === "fake") return "";
  if (runtimeName !== "docker") throw new Error(`BERTH_TS_RUNTIME=${runtimeName}: want fake or docker`);
  const err = await new Promise<Error | undefined>((done) => {
    const c = connect(dockerSocket);
    c.once("connect", () => (c.end(), done(undefined)));
    c.once("error", done);
  });
  if (!err) return "";
  const why = `the docker engine at ${dockerSocket} does not answer (${err.message}; start it with scripts/engines.sh)`;
  if (process.env.CI === "true") throw new Error(why + ": CI=true, so this fails");
  return why;
}

/** A random suffix for references and work items. */
export function rand(): string {
  return randomBytes(5).toString("hex");
}

/** The environment of berth commands: none of the caller's BERTH_* or config. */
function environ(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("BERTH_") && k !== "XDG_CONFIG_HOME") env[k] = v;
  }
  env.XDG_CONFIG_HOME = join(dir, "xdg");
  return env;
}

/**
 * A state directory with the base image imported: what every daemon of a
 * test file runs on. Its remove() deletes it (and on Docker the base
 * image).
 */
export class State {
  readonly dir: string;
  readonly stateDir: string;
  /** The base image's reference. */
  readonly base: string;
  /** A project of the test file's own. */
  readonly project: string;
  private readonly daemons = new Set<Daemon>();

  private constructor(dir: string) {
    this.dir = dir;
    this.stateDir = join(dir, "state");
    this.base = `berth-ts/base:${rand()}`;
    this.project = `ts-${rand()}`;
  }

  /** Makes the state directory and imports a base image built by tools/mkimage. */
  static async create(): Promise<State> {
    const s = new State(await mkdtemp(join(tmpdir(), "berth-ts-")));
    const tar = join(s.dir, "base.tar");
    const args = ["run", "./tools/mkimage", "-o", tar, "-ref", s.base];
    if (onFake) {
      // The fake runs no binaries: any file stands in for busybox.
      const bb = join(s.dir, "busybox");
      await writeFile(bb, "the fake runs no binaries");
      args.push("-busybox", bb);
    }
    await run("go", args, { cwd: repoRoot });
    await s.berth("images", "import", "--runtime", runtimeName, "--ref", s.base, tar);
    return s;
  }

  /** Runs a berth command on the state directory to its end. */
  async berth(...args: string[]): Promise<string> {
    const { stdout } = await run(berthBin, ["--state-dir", this.stateDir, ...args], {
      env: environ(this.dir),
      timeout: 120_000,
    });
    return stdout;
  }

  /**
   * Starts berth serve on the state directory and waits until it is
   * ready; its client is on the socket, or made of clientOptions (TCP).
   */
  async serve(args: string[] = [], clientOptions?: BerthClientOptions): Promise<Daemon> {
    const d = await Daemon.start(this, args, clientOptions);
    this.daemons.add(d);
    return d;
  }

  /**
   * Stops every daemon left and removes the directory; on Docker also
   * what berth made for the project (containers, snapshot images) and the
   * base image.
   */
  async remove(): Promise<void> {
    for (const d of this.daemons) await d.kill();
    if (!onFake) {
      const docker = (...args: string[]) => run("docker", ["-H", `unix://${dockerSocket}`, ...args]);
      const label = `label=io.berth.project=${this.project}`;
      const containers = (await docker("ps", "-aq", "--filter", label)).stdout.split(/\s+/).filter(Boolean);
      if (containers.length) await docker("rm", "-f", ...containers);
      const images = (await docker("images", "-q", "--filter", label)).stdout.split(/\s+/).filter(Boolean);
      if (images.length) await docker("rmi", "-f", ...new Set(images));
      await docker("rmi", "-f", this.base).catch(() => {});
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** @internal */
  forget(d: Daemon): void {
    this.daemons.delete(d);
  }

  /** The environment of the state's commands. */
  env(): NodeJS.ProcessEnv {
    return environ(this.dir);
  }
}

/** A berth serve process of a test, and a client over its unix socket. */
export class Daemon {
  readonly proc: ChildProcess;
  readonly socketPath: string;
  readonly client: BerthClient;
  private readonly exited: Promise<number | null>;
  private out = "";

  private constructor(
    private readonly state: State,
    proc: ChildProcess,
    clientOptions?: BerthClientOptions,
  ) {
    this.proc = proc;
    this.socketPath = join(state.stateDir, "berth.sock");
    this.client = new BerthClient(clientOptions ?? { socketPath: this.socketPath });
    this.exited = new Promise((done) => proc.once("exit", (code, signal) => done(code ?? (signal ? -1 : null))));
    proc.stdout!.on("data", (b: Buffer) => (this.out += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (this.out += b.toString()));
  }

  static async start(state: State, args: string[], clientOptions?: BerthClientOptions): Promise<Daemon> {
    const proc = spawn(berthBin, ["--state-dir", state.stateDir, "--runtime", runtimeName, "serve", ...args], {
      env: state.env(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(proc);
    proc.once("exit", () => running.delete(proc));
    const d = new Daemon(state, proc, clientOptions);
    const until = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`berth serve exited ${proc.exitCode}: ${d.output()}`);
      if (await d.client.ready().then(() => true, () => false)) break;
      if (Date.now() > until) {
        await d.kill();
        throw new Error(`berth serve not ready after 60s: ${d.output()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    return d;
  }

  /** What the daemon wrote. */
  output(): string {
    return this.out;
  }

  /** Sends sig and waits for the exit; returns the exit code (-1 for a signal). */
  async stop(sig: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(sig);
    const code = await this.exited;
    await this.client.close();
    this.state.forget(this);
    return code;
  }

  /** kill -9. */
  kill(): Promise<number | null> {
    return this.stop("SIGKILL");
  }
}

/** A free TCP port on the loopback. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Polls fn until it returns true (or throws after ms). */
export async function eventually(what: string, fn: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > until) throw new Error(`not ${what} after ${ms}ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
