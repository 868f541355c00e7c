import type { IpamService } from './ipam-service.ts';
import type { Logger } from '../util/logger.ts';

/**
 * Runs one collection every `intervalMs` (and one at once for a standalone
 * agent), never two at a time, and one more at the moment the first waiting
 * namespace's grace ends, so a reclaim never waits for the next tick: a
 * leaked IP is free within grace + interval of its namespace's removal
 * whatever phase the ticks have after a restart. A standalone agent first
 * re-files held IPs under the pools that hold them now: an ADD that started
 * under pools since reloaded may have finished after the reload's reconcile.
 * `stop` ends the timers and returns the collection still running, if any.
 */
export function startGcLoop(service: IpamService, intervalMs: number, graceMs: number, standalone: boolean, log: Logger): { stop(): Promise<void> | undefined } {
  let running: Promise<void> | undefined;
  let due: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = (standalone ? service.reconcile().then(() => service.collect()) : service.collect())
      .then(
        ({ waiting }) => {
          clearTimeout(due);
          if (waiting.length === 0 || stopped) return;
          const next = Math.min(...waiting.map((w) => w.goneSinceMs)) + graceMs - Date.now();
          if (next < intervalMs) due = setTimeout(run, Math.max(0, next)).unref();
        },
        (err: unknown) => log.error('netns garbage collection failed', { err }),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(run, intervalMs);
  timer.unref();
  if (standalone) run();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(due);
      return running;
    },
  };
}
