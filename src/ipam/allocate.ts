/**
 * Choosing the next free IP of a pool. The rule that matters most: an IP that
 * was just released may still be cached by peers (ARP/neighbor tables,
 * conntrack, firewall sets), so it is handed out again only when no other IP
 * is free, and then the one released longest ago goes first.
 *
 * Work per call is proportional to the number of used/released/skipped IPs,
 * never to the pool size: an IPv6 /64 pool has 2^64 addresses.
 */
import type { Address, Family } from './address.ts';
import { parseAddress } from './address.ts';
import type { Pool } from './pool.ts';
import type { IPRange } from './range.ts';
import { rangesContain } from './range.ts';

/** Parsed form of the store's PoolUsage. */
export interface UsageView {
  /** IPs currently held. */
  readonly allocated: ReadonlySet<bigint>;
  /** IPs once held and now free (never also in `allocated`) -> time of their last release (ms). */
  readonly releasedAt: ReadonlyMap<bigint, number>;
}

/**
 * Parses the store's canonical address strings for one family. Entries that do
 * not parse, belong to the other family, or carry a non-finite time are
 * ignored; a released IP that is also allocated counts as allocated; for an IP
 * released more than once the latest time is kept.
 */
export function planUsage(family: Family, allocated: readonly string[], released: ReadonlyArray<readonly [string, number]>): UsageView {
  const held = new Set<bigint>();
  for (const text of allocated) {
    const a = parseAddress(text);
    if (a !== undefined && a.family === family) held.add(a.value);
  }
  const releasedAt = new Map<bigint, number>();
  for (const [text, at] of released) {
    const a = parseAddress(text);
    if (a === undefined || a.family !== family || !Number.isFinite(at) || held.has(a.value)) continue;
    const previous = releasedAt.get(a.value);
    if (previous === undefined || at > previous) releasedAt.set(a.value, at);
  }
  return { allocated: held, releasedAt };
}

/** Inputs of planNextIp besides the pool and its usage. */
export interface NextIpOptions {
  /** Current time (ms), from the caller's clock. */
  readonly now: number;
  /** An IP released less than this long before `now` is not handed out; 0 (default) or less disables the cooldown. */
  readonly cooldownMs?: number;
  /** IPs not to hand out this time, e.g. ones whose reserve just lost a race. */
  readonly skip?: ReadonlySet<bigint>;
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Lowest value of the normalized `ranges` not in `used` (sorted ascending, duplicates allowed). */
function firstGap(ranges: readonly IPRange[], used: readonly bigint[]): bigint | undefined {
  let k = 0;
  for (const r of ranges) {
    let candidate = r.start;
    // Stop at the range end: used values past it may still block the next range.
    while (k < used.length && candidate <= r.end) {
      const u = used[k] as bigint;
      if (u < candidate) k++;
      else if (u === candidate) {
        candidate++;
        k++;
      } else break;
    }
    if (candidate <= r.end) return candidate;
  }
  return undefined;
}

/**
 * Chooses the IP to hand out next, or undefined when none is free.
 *
 * Guarantees: the result lies in `pool.ranges` and is neither allocated nor in
 * `opts.skip`. If some such IP was never released, the result is the lowest
 * never-released one. Otherwise it is the released IP with the oldest release
 * time (lowest IP on a tie) among those whose cooldown has passed
 * (`now - releasedAt >= cooldownMs`). Does not look at `pool.disabled`.
 */
export function planNextIp(pool: Pool, usage: UsageView, opts: NextIpOptions): Address | undefined {
  const skip = opts.skip ?? new Set<bigint>();
  // Released IPs are "used" for the first pass: they only come back once nothing fresh is left.
  const used: bigint[] = [...usage.allocated, ...usage.releasedAt.keys(), ...skip];
  used.sort(compareBigint);
  const fresh = firstGap(pool.ranges, used);
  if (fresh !== undefined) return { family: pool.family, value: fresh };

  const cooldown = opts.cooldownMs ?? 0;
  let best: bigint | undefined;
  let bestAt = 0;
  for (const [value, at] of usage.releasedAt) {
    if (usage.allocated.has(value) || skip.has(value)) continue;
    // Written as a negated >= so that a NaN time is never treated as cooled down.
    if (cooldown > 0 && !(opts.now - at >= cooldown)) continue;
    if (!rangesContain(pool.ranges, value)) continue;
    if (best === undefined || at < bestAt || (at === bestAt && value < best)) {
      best = value;
      bestAt = at;
    }
  }
  return best === undefined ? undefined : { family: pool.family, value: best };
}

/** Number of IPs of the pool not currently allocated: pool.total minus allocated IPs inside pool.ranges. */
export function planFreeCount(pool: Pool, usage: UsageView): bigint {
  let inside = 0n;
  for (const value of usage.allocated) if (rangesContain(pool.ranges, value)) inside++;
  return pool.total - inside;
}
