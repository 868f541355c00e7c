/**
 * Which pool each held address belongs to now. A pools file may be edited
 * while its pools hold addresses: a pool renamed, removed, shrunk or re-cut.
 * An address stays held by its record whatever happens to the pool it was
 * handed out from (the store holds it once); what changes is which pool
 * counts it. Pure: the caller lists the records and applies the plan.
 */
import { compareAddressText, parseAddress } from './address.ts';
import type { Pool } from './pool.ts';
import { rangesContain } from './range.ts';

/** A held address as the store files it. */
export interface HeldAddress {
  readonly pool: string;
  readonly ip: string;
}

/**
 * Why no current pool counts a held address: the pool it was handed out
 * from is gone from the pools file, or it is still there but its ranges no
 * longer include the address (shrunk, or the address excluded).
 */
export type OrphanReason = 'pool-removed' | 'outside-pool';

export interface ClaimPlan {
  /** Held addresses filed under one pool that another current pool's ranges hold: re-file each under `to`. */
  readonly moves: ReadonlyArray<{ readonly pool: string; readonly ip: string; readonly to: string }>;
  /** Held addresses inside no current pool; they stay held until DEL or the collector frees them. */
  readonly orphaned: ReadonlyArray<{ readonly pool: string; readonly ip: string; readonly reason: OrphanReason }>;
}

/** The current pool whose allocatable ranges hold `ip` (pools of one family never overlap), if any. */
export function planPoolOf(pools: readonly Pool[], ip: string): Pool | undefined {
  const a = parseAddress(ip);
  if (a === undefined) return undefined;
  return pools.find((p) => p.family === a.family && rangesContain(p.ranges, a.value));
}

/**
 * Files every held address under the current pool whose ranges hold it. An
 * address keeps its pool when that pool still holds it; one that moved into
 * another pool's ranges (a pool renamed with the same range, or re-cut) is
 * re-filed there; one in no pool's ranges is an orphan. Disabled pools count:
 * disabling stops new allocations, not ownership.
 */
export function planPoolClaims(pools: readonly Pool[], held: readonly HeldAddress[]): ClaimPlan {
  const names = new Set(pools.map((p) => p.name));
  const moves: Array<ClaimPlan['moves'][number]> = [];
  const orphaned: Array<ClaimPlan['orphaned'][number]> = [];
  for (const h of held) {
    const home = planPoolOf(pools, h.ip);
    if (home === undefined) orphaned.push({ pool: h.pool, ip: h.ip, reason: names.has(h.pool) ? 'outside-pool' : 'pool-removed' });
    else if (home.name !== h.pool) moves.push({ pool: h.pool, ip: h.ip, to: home.name });
  }
  return { moves, orphaned };
}

/** Orphans grouped by the pool they were handed out from and why, IPs in numeric order. */
export function planOrphanGroups(orphaned: ClaimPlan['orphaned']): Array<{ pool: string; reason: OrphanReason; ips: string[] }> {
  const groups = new Map<string, { pool: string; reason: OrphanReason; ips: string[] }>();
  for (const o of orphaned) {
    const key = `${o.pool}\u0000${o.reason}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { pool: o.pool, reason: o.reason, ips: [] }));
    g.ips.push(o.ip);
  }
  for (const g of groups.values()) g.ips.sort(compareAddressText);
  return [...groups.values()];
}
