import type { Logger } from '../util/logger.ts';
import type { Clock } from './clock.ts';

/**
 * Work only the leader does (pool status now, garbage collection next).
 * Each task runs for one leadership term: from onStartedLeading until its
 * signal aborts, when it must stop writing at once.
 */
export interface LeaderTask {
  readonly name: string;
  /** Runs until `signal` aborts; resolves once nothing of it is in flight. */
  run(signal: AbortSignal): Promise<void>;
}

/**
 * Runs every task for one term. A task that fails is logged and restarted
 * after `restartMs` while the term lasts, so one bad reconciler cannot end
 * the others' work or leadership itself. Resolves when all have stopped.
 */
export async function runLeaderTasks(tasks: readonly LeaderTask[], signal: AbortSignal, deps: { clock: Clock; log: Logger; restartMs?: number }): Promise<void> {
  await Promise.all(
    tasks.map(async (task) => {
      while (!signal.aborted) {
        try {
          await task.run(signal);
        } catch (err) {
          deps.log.error('leader task failed; restarting it', { task: task.name, err });
        }
        if (!signal.aborted) await deps.clock.sleep(deps.restartMs ?? 1_000, signal);
      }
    }),
  );
}
