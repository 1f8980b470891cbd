// Retries of the calls that ride out a daemon restart (wait, logs, events),
// as the Go client does them.

import { BerthError, ConnectionError } from "./errors.js";

/**
 * Whether err may go away by itself, so that a wait or a stream tries
 * again: no answer at all (a daemon restarting) or a retryable problem
 * (too many streams, not ready, draining, an engine down, ...).
 */
export function transient(err: unknown): boolean {
  return err instanceof ConnectionError || (err instanceof BerthError && err.retryable);
}

/** Backoff spaces retries: 100ms, doubling up to 5s, or the daemon's Retry-After. */
export class Backoff {
  private ms = 0;

  reset(): void {
    this.ms = 0;
  }

  /**
   * Sleeps before the next try (at most maxMs, if given); rejects with
   * the signal's reason when it aborts.
   */
  sleep(signal: AbortSignal | undefined, cause: unknown, maxMs?: number): Promise<void> {
    this.ms = Math.min(Math.max(2 * this.ms, 100), 5000);
    let ms = this.ms;
    if (cause instanceof BerthError && cause.retryAfterMs !== undefined && cause.retryAfterMs > 0) {
      ms = cause.retryAfterMs;
    }
    return sleep(maxMs === undefined ? ms : Math.min(ms, maxMs), signal);
  }
}

/** Resolves after ms, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
