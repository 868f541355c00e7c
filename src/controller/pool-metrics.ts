import type { Registry } from 'prom-client';
import { planPool } from '../ipam/pool.ts';
import { registerPoolGauges, type PoolUsage } from '../util/pool-metrics.ts';
import type { ControllerCache, PoolObject } from './cache.ts';
import { isAllocated } from './webhook-plan.ts';

/**
 * The cluster's pool gauges, exported by the leader alone: every agent and
 * every replica sees the same pools, and a series per process would count
 * each pool once per node. Read from the watch caches at scrape time.
 */
export function registerLeaderPoolGauges(registry: Registry, cache: ControllerCache, leading: () => boolean): void {
  // Cached objects never change in place: each version of a pool is planned once.
  const capacities = new WeakMap<PoolObject, number | undefined>();
  const capacity = (pool: PoolObject): number | undefined => {
    if (!capacities.has(pool)) capacities.set(pool, planCapacity(pool));
    return capacities.get(pool);
  };
  registerPoolGauges(registry, async (): Promise<PoolUsage> => {
    if (!leading() || !cache.synced) return { pools: [], held: [] };
    const pools: Array<PoolUsage['pools'][number]> = [];
    for (const pool of cache.pools.list()) {
      const name = pool.metadata.name ?? '';
      const total = capacity(pool);
      // A pool that does not validate has no capacity to speak of; its status is left alone for the same reason.
      if (total === undefined) continue;
      pools.push({ name, capacity: total, allocated: cache.allocations.byIndex('pool', name).filter(isAllocated).length });
    }
    const held = cache.allocations.list().flatMap((a) => (a.spec?.owner?.hold && typeof a.spec.pool === 'string' ? [{ pool: a.spec.pool, reason: a.spec.owner.hold.reason }] : []));
    return { pools, held };
  });
}

function planCapacity(pool: PoolObject): number | undefined {
  try {
    return Number(planPool(pool).total);
  } catch {
    return undefined;
  }
}
