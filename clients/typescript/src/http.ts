// The transport: undici's fetch over an undici Agent of the client's own,
// on the daemon's unix socket or over TCP with the bearer token.

import { Agent, fetch, type Dispatcher, type Response } from "undici";
import { BerthError, ConnectionError, problemError, type ProblemFields } from "./errors.js";

/** How to reach the daemon. Give socketPath, or baseUrl (with token), or host. */
export interface BerthClientOptions {
  /** The daemon's unix socket (`<state dir>/berth.sock`). */
  socketPath?: string;
  /** The daemon's URL on TCP: http://127.0.0.1:7400 or https://host:port. */
  baseUrl?: string;
  /** The bearer token a daemon on TCP requires (its --token-file). */
  token?: string;
  /**
   * The daemon as the berth command's --host and BERTH_HOST name it:
   * unix:///path/berth.sock or a bare path, tcp://host:port, or an
   * http(s) URL. Used when neither socketPath nor baseUrl is given.
   */
  host?: string;
  /** Headers sent with every request (tracing, a proxy's own auth). */
  headers?: Record<string, string>;
  /**
   * The undici dispatcher to send requests with (a ProxyAgent, an Agent
   * with a TLS CA), from the `undici` package; the client then neither
   * makes nor closes its own. With socketPath, the dispatcher must
   * connect to the socket itself.
   */
  dispatcher?: Dispatcher;
}

/** One request: path already escaped. */
export interface Req {
  method: "GET" | "POST" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: unknown;
  signal?: AbortSignal;
}

/** Transport sends requests to the daemon and turns error answers into BerthErrors. */
export class Transport {
  readonly base: string;
  private readonly token?: string;
  private readonly headers: Record<string, string>;
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: boolean;

  constructor(opts: BerthClientOptions) {
    let { socketPath, baseUrl, token } = opts;
    if (socketPath === undefined && baseUrl === undefined) {
      const host = opts.host ?? process.env.BERTH_HOST;
      if (!host) throw new TypeError("BerthClient: give socketPath, baseUrl or host (or set BERTH_HOST)");
      ({ socketPath, baseUrl } = parseHost(host));
      if (opts.host === undefined) token ??= process.env.BERTH_TOKEN; // the berth command's environment
    }
    if (socketPath !== undefined && baseUrl !== undefined) {
      throw new TypeError("BerthClient: give socketPath or baseUrl, not both");
    }
    if (socketPath !== undefined) {
      if (socketPath === "") throw new TypeError("BerthClient: empty socketPath");
      this.base = "http://berth";
    } else {
      const u = new URL(baseUrl!);
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        throw new TypeError(`BerthClient: baseUrl ${baseUrl}: want an http:// or https:// URL`);
      }
      this.base = u.origin;
    }
    this.token = token;
    this.headers = { ...opts.headers };
    this.ownDispatcher = opts.dispatcher === undefined;
    // The client's own Agent: no body timeout (a log follow of a quiet
    // job, a long poll, an idle event stream between heartbeats); the
    // caller's AbortSignal bounds every call.
    this.dispatcher =
      opts.dispatcher ??
      new Agent({
        bodyTimeout: 0,
        headersTimeout: 0,
        keepAliveTimeout: 30_000,
        connect: socketPath !== undefined ? { socketPath } : undefined,
      });
  }

  /** Closes the client's own connections (not a dispatcher it was given). */
  async close(): Promise<void> {
    if (this.ownDispatcher) await this.dispatcher.close();
  }

  /**
   * Sends req and returns the answer when it is 2xx. Any other answer
   * is thrown as the BerthError of its problem; no answer at all as a
   * ConnectionError; an abort as the signal's reason.
   */
  async send(req: Req): Promise<Response> {
    const op = `${req.method} ${req.path}`;
    let url = this.base + req.path;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) q.set(k, String(v));
    }
    const qs = q.toString();
    if (qs) url += "?" + qs;
    const headers: Record<string, string> = { ...this.headers, ...req.headers };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["content-type"] = "application/json";
    }
    if (this.token) headers["authorization"] = `Bearer ${this.token}`;
    req.signal?.throwIfAborted();
    let resp: Response;
    try {
      resp = await fetch(url, { method: req.method, headers, body, signal: req.signal, dispatcher: this.dispatcher });
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw connectionError(op, err);
    }
    if (resp.ok) return resp;
    throw await readProblem(op, resp);
  }

  /** Sends req and returns its JSON answer. */
  async json<T>(req: Req): Promise<T> {
    const resp = await this.send(req);
    try {
      return (await resp.json()) as T;
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw connectionError(`${req.method} ${req.path}`, err, "reading the answer");
    }
  }

  /** Sends req and returns its answer as text. */
  async text(req: Req): Promise<string> {
    const resp = await this.send(req);
    try {
      return await resp.text();
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw connectionError(`${req.method} ${req.path}`, err, "reading the answer");
    }
  }
}

/** The ConnectionError of a request that got no (whole) answer. */
export function connectionError(op: string, err: unknown, doing = "no answer"): ConnectionError {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ConnectionError({ status: 0, type: "", title: `${doing}: ${why}`, op }, { cause: err });
}

/** The BerthError of a non-2xx answer. */
async function readProblem(op: string, resp: Response): Promise<BerthError> {
  const p: ProblemFields = { status: resp.status, type: "", title: resp.statusText || `HTTP ${resp.status}`, op };
  const ra = resp.headers.get("retry-after");
  if (ra !== null && /^\d+$/.test(ra.trim())) p.retryAfterMs = Number(ra.trim()) * 1000;
  let text = "";
  try {
    text = await resp.text();
  } catch {
    // The status says enough.
  }
  const mediaType = (resp.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType === "application/problem+json") {
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      if (typeof body.type === "string") p.type = body.type;
      if (typeof body.title === "string") p.title = body.title;
      if (typeof body.detail === "string") p.detail = body.detail;
      if (typeof body.instance === "string") p.instance = body.instance;
      return problemError(p);
    } catch {
      // Not JSON after all: as below.
    }
  }
  // Not a problem: a proxy's page, or not berth at all.
  const oneLine = text.split(/\s+/).filter(Boolean).join(" ");
  if (oneLine) p.detail = oneLine.length > 200 ? oneLine.slice(0, 200) + "..." : oneLine;
  return problemError(p);
}

/** The socket path or base URL of a host as the berth command takes it. */
export function parseHost(host: string): { socketPath?: string; baseUrl?: string } {
  if (host.startsWith("unix://")) {
    const path = host.slice("unix://".length);
    if (!path) throw new TypeError(`BerthClient: host ${host}: no socket path`);
    return { socketPath: path };
  }
  if (!host.includes("://")) return { socketPath: host };
  if (host.startsWith("tcp://")) {
    const u = new URL("http://" + host.slice("tcp://".length));
    return { baseUrl: u.origin };
  }
  if (host.startsWith("http://") || host.startsWith("https://")) return { baseUrl: new URL(host).origin };
  throw new TypeError(`BerthClient: host ${host}: want unix:///path, tcp://host:port or an http(s) URL`);
}
