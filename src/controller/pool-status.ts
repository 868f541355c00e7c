import { isNotFound, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../util/logger.ts';
import { IPPOOLS_PATH, type ControllerCache, type PoolObject } from './cache.ts';
import type { Clock } from './clock.ts';
import type { LeaderTask } from './leader-tasks.ts';
import type { ControllerMetrics } from './metrics.ts';
import { planPoolStatus } from './pool-status-plan.ts';

export interface PoolStatusOptions {
  readonly rest: KubeRest;
  readonly cache: ControllerCache;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: ControllerMetrics;
  /** Least time between two status writes of one pool; default 1 s. */
  readonly minIntervalMs?: number;
}

/**
 * Keeps `IPPool.status` counts in step with the caches (ADR 0005: written
 * from the controller's cache, debounced, never on the allocation path).
 * Changes to a pool or its IPAllocations mark the pool; a pool is written at
 * most once per `minIntervalMs`, and only when a count differs from what is
 * stored, so allocation bursts cost one write per pool per interval.
 */
export function createPoolStatusReconciler(opts: PoolStatusOptions): LeaderTask {
  const { rest, cache, clock, log, metrics } = opts;
  const minIntervalMs = opts.minIntervalMs ?? 1_000;
  // Invalid pools are reported once per version, not at every allocation.
  const reportedInvalid = new Set<string>();

  async function run(signal: AbortSignal): Promise<void> {
    await cache.waitForSync();
    if (signal.aborted) return;
    const timers = new Map<string, () => void>();
    const lastWrite = new Map<string, number>();
    const inFlight = new Map<string, Promise<void>>();
    const again = new Set<string>();

    function schedule(name: string | undefined): void {
      if (!name || signal.aborted || timers.has(name)) return;
      if (inFlight.has(name)) {
        again.add(name);
        return;
      }
      const wait = Math.max(0, (lastWrite.get(name) ?? Number.NEGATIVE_INFINITY) + minIntervalMs - clock.now());
      timers.set(
        name,
        clock.setTimer(() => {
          timers.delete(name);
          const done = reconcile(name).finally(() => {
            inFlight.delete(name);
            if (again.delete(name)) schedule(name);
          });
          inFlight.set(name, done);
        }, wait),
      );
    }

    async function reconcile(name: string): Promise<void> {
      if (signal.aborted) return;
      const pool = cache.pools.get(name);
      if (!pool) return;
      const plan = planPoolStatus(pool, cache.allocations.byIndex('pool', name));
      if (plan.kind === 'invalid') {
        const key = `${name}@${pool.metadata.resourceVersion}`;
        if (!reportedInvalid.has(key)) {
          reportedInvalid.add(key);
          log.warn('IPPool is invalid; its status is left unchanged', { pool: name, err: plan.message });
        }
        return;
      }
      if (plan.kind === 'unchanged') return;
      lastWrite.set(name, clock.now());
      try {
        const written = await rest.patch<PoolObject>(`${IPPOOLS_PATH}/${name}/status`, { status: plan.status });
        cache.pools.observe(written);
        metrics.poolStatusUpdate();
        log.debug('IPPool status updated', { pool: name, ...plan.status });
      } catch (err) {
        if (isNotFound(err)) return;
        log.warn('IPPool status update failed; retrying', { pool: name, err: err instanceof Error ? err.message : String(err) });
        again.add(name);
      }
    }

    const unsubscribe = [
      cache.pools.onChange((_type, obj) => schedule(obj.metadata.name)),
      cache.allocations.onChange((_type, obj, old) => {
        schedule(obj.spec?.pool);
        if (old?.spec?.pool !== obj.spec?.pool) schedule(old?.spec?.pool);
      }),
    ];
    for (const pool of cache.pools.list()) schedule(pool.metadata.name);

    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    for (const off of unsubscribe) off();
    for (const cancel of timers.values()) cancel();
    timers.clear();
    await Promise.allSettled([...inFlight.values()]);
  }

  return { name: 'pool-status', run };
}
