import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/** Processes and temp dirs a benchmark started; whatever is left in them is removed on exit or on a signal. */
export const children = new Set<ChildProcess>();
export const tempDirs = new Set<string>();

/** Kills whatever is still running and removes the temp dirs; synchronous, so a signal handler can call it. */
export function cleanupSync(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** On SIGINT, SIGTERM or SIGHUP: says what it stops, cleans up, and exits with the signal's status. */
export function stopOnSignals(what: string): void {
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping ${what}\n`);
    cleanupSync();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
}
