// One way for tests and benchmarks to wait for a process they started: poll
// its own readiness signal (a socket answering /healthz, a start-up log line,
// an IPC message), fail at once if it exits, and give up only after a limit
// generous enough for a loaded two-core machine, with the process's own log
// in the error so a failure says why.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * How long a started process gets to become ready. Not a performance bound:
 * ten agents loading the Kubernetes client at once on an idle two-core
 * machine take over 6 s, and a machine running other work much longer.
 */
export const READY_LIMIT_MS = 60_000;

export interface ReadyOptions {
  /** Default READY_LIMIT_MS. */
  readonly limitMs?: number;
  /** Pause between probes; default 25 ms. */
  readonly everyMs?: number;
}

/**
 * Calls `probe` until it returns something other than undefined, and
 * returns that. Rejects as soon as `proc` exits, or once `limitMs` has
 * passed, with `what`, the exit status or the limit, and `log()` (the
 * process's own output so far).
 */
export async function waitUntilReady<T>(what: string, proc: ChildProcess, log: () => string, probe: () => T | undefined | Promise<T | undefined>, opts: ReadyOptions = {}): Promise<T> {
  const limitMs = opts.limitMs ?? READY_LIMIT_MS;
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited (${proc.exitCode ?? proc.signalCode}) before it was ready; its log:\n${log()}`);
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${limitMs >= 1000 ? `${Math.round(limitMs / 1000)} s` : `${limitMs} ms`}; its log:\n${log()}`);
    await delay(opts.everyMs ?? 25);
  }
}
