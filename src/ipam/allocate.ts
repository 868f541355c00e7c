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
  /** Released IPs that must not be handed out before the given time (ms): a reclaimed IP's cooldown. */
  readonly reusableAt?: ReadonlyMap<bigint, number>;
}

/**
 * Parses the store's canonical address strings for one family. Entries that do
 * not parse, belong to the other family, or carry a non-finite time are
 * ignored; a released IP that is also allocated counts as allocated; for an IP
 * released more than once the latest time is kept.
 */
export function planUsage(family: Family, allocated: readonly string[], released: ReadonlyArray<readonly [string, number, number?]>): UsageView {
  const held = new Set<bigint>();
  for (const text of allocated) {
    const a = parseAddress(text);
    if (a !== undefined && a.family === family) held.add(a.value);
  }
  const releasedAt = new Map<bigint, number>();
  const reusableAt = new Map<bigint, number>();
  for (const [text, at, notBefore] of released) {
    const a = parseAddress(text);
    if (a === undefined || a.family !== family || !Number.isFinite(at) || held.has(a.value)) continue;
    const previous = releasedAt.get(a.value);
    if (previous === undefined || at > previous) {
      releasedAt.set(a.value, at);
      if (notBefore !== undefined && Number.isFinite(notBefore)) reusableAt.set(a.value, notBefore);
      else reusableAt.delete(a.value);
    }
  }
  return { allocated: held, releasedAt, reusableAt };
}

/** Inputs of planNextIp besides the pool and its usage. */
export interface NextIpOptions {
  /** Current time (ms), from the caller's clock. */
  readonly now: number;
  /** An IP released less than this long before `now` is not handed out; 0 (default) or less disables the cooldown. */
  readonly cooldownMs?: number;
  /** IPs not to hand out this time, e.g. ones whose reserve just lost a race. */
  readonly skip?: ReadonlySet<bigint>;
  /**
   * This writer's share of the pool when several write it (node `index` of
   * `count`): the IPs at positions [index/count, (index+1)/count) of the pool.
   * Free IPs there are taken first, so writers sharing a pool rarely race.
   */
  readonly segment?: { readonly index: number; readonly count: number };
  /**
   * A number in [0, 1) from the caller's random source: where to look when
   * the segment has nothing left (fresh IPs: the first free one at or after
   * position random*total, wrapping; released ones: one of the oldest).
   * Without it the lowest fresh IP and the oldest released IP are taken.
   */
  readonly random?: number;
}

/** Outside its segment, a writer picks among the max(RELEASED_WINDOW, n/4) longest-released IPs. */
export const RELEASED_WINDOW = 16;

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

/** The value at 0-based `position` of the normalized ranges, seen as one sequence. */
function valueAt(ranges: readonly IPRange[], position: bigint): bigint | undefined {
  let left = position;
  for (const r of ranges) {
    const size = r.end - r.start + 1n;
    if (left < size) return r.start + left;
    left -= size;
  }
  return undefined;
}

/** Lowest value not in `used` at or after `from` (in range order), else the lowest one before it. */
function firstGapFrom(ranges: readonly IPRange[], used: readonly bigint[], from: bigint): bigint | undefined {
  const after: IPRange[] = [];
  const before: IPRange[] = [];
  for (const r of ranges) {
    if (r.end < from) before.push(r);
    else if (r.start >= from) after.push(r);
    else {
      before.push({ ...r, end: from - 1n });
      after.push({ ...r, start: from });
    }
  }
  return firstGap(after, used) ?? firstGap(before, used);
}

/** The value interval of the segment's positions, or undefined for an empty segment. */
function segmentBounds(pool: Pool, segment: { index: number; count: number }): { lo: bigint; hi: bigint } | undefined {
  if (!(segment.count >= 1) || !(segment.index >= 0) || segment.index >= segment.count) return undefined;
  const count = BigInt(Math.floor(segment.count));
  const index = BigInt(Math.floor(segment.index));
  const start = (pool.total * index) / count;
  const end = (pool.total * (index + 1n)) / count;
  if (end <= start) return undefined;
  const lo = valueAt(pool.ranges, start);
  const hi = valueAt(pool.ranges, end - 1n);
  return lo === undefined || hi === undefined ? undefined : { lo, hi };
}

function clip(ranges: readonly IPRange[], lo: bigint, hi: bigint): IPRange[] {
  const out: IPRange[] = [];
  for (const r of ranges) {
    const start = r.start > lo ? r.start : lo;
    const end = r.end < hi ? r.end : hi;
    if (start <= end) out.push({ ...r, start, end });
  }
  return out;
}

/**
 * Chooses the IP to hand out next, or undefined when none is free.
 *
 * Guarantees: the result lies in `pool.ranges` and is neither allocated nor in
 * `opts.skip`. A never-released IP always wins over a released one: first one
 * inside `opts.segment` (the lowest), then anywhere (the first at or after
 * `random`'s position, or the lowest). Only when none is left, a released IP
 * whose cooldown has passed (`now - releasedAt >= cooldownMs`, and `now` at or
 * past its `reusableAt` if it has one): the oldest
 * inside the segment, else the oldest (lowest IP on a tie), or with `random`
 * one of the max(RELEASED_WINDOW, n/4) oldest. Without segment and random
 * the result is exactly: lowest never-released, else oldest released. Does
 * not look at `pool.disabled`.
 */
export function planNextIp(pool: Pool, usage: UsageView, opts: NextIpOptions): Address | undefined {
  const skip = opts.skip ?? new Set<bigint>();
  const random = opts.random !== undefined && opts.random >= 0 && opts.random < 1 ? opts.random : undefined;
  const bounds = opts.segment ? segmentBounds(pool, opts.segment) : undefined;
  // Released IPs are "used" for the fresh passes: they only come back once nothing fresh is left.
  const used: bigint[] = [...usage.allocated, ...usage.releasedAt.keys(), ...skip];
  used.sort(compareBigint);
  const from = random === undefined || pool.total === 0n ? undefined : valueAt(pool.ranges, (pool.total * BigInt(Math.floor(random * 2 ** 32))) >> 32n);
  const fresh = (bounds && firstGap(clip(pool.ranges, bounds.lo, bounds.hi), used)) ?? (from === undefined ? firstGap(pool.ranges, used) : firstGapFrom(pool.ranges, used, from));
  if (fresh !== undefined) return { family: pool.family, value: fresh };

  const cooldown = opts.cooldownMs ?? 0;
  const eligible: Array<[bigint, number]> = [];
  for (const [value, at] of usage.releasedAt) {
    if (usage.allocated.has(value) || skip.has(value)) continue;
    // Written as a negated >= so that a NaN time is never treated as cooled down.
    if (cooldown > 0 && !(opts.now - at >= cooldown)) continue;
    const notBefore = usage.reusableAt?.get(value);
    if (notBefore !== undefined && opts.now < notBefore) continue;
    if (!rangesContain(pool.ranges, value)) continue;
    eligible.push([value, at]);
  }
  if (eligible.length === 0) return undefined;
  const oldestFirst = (a: [bigint, number], b: [bigint, number]) => a[1] - b[1] || compareBigint(a[0], b[0]);
  const oldest = (list: Array<[bigint, number]>) => list.reduce((best, e) => (oldestFirst(e, best) < 0 ? e : best));
  if (bounds) {
    const mine = eligible.filter(([v]) => v >= bounds.lo && v <= bounds.hi);
    if (mine.length > 0) return { family: pool.family, value: oldest(mine)[0] };
  }
  if (random === undefined) return { family: pool.family, value: oldest(eligible)[0] };
  eligible.sort(oldestFirst);
  const window = Math.min(eligible.length, Math.max(RELEASED_WINDOW, Math.ceil(eligible.length / 4)));
  return { family: pool.family, value: eligible[Math.floor(random * window)]![0] };
}

/**
 * Allocated IPs of the pool inside its current ranges. A record filed under
 * the pool whose address the pool no longer holds (shrunk, excluded) is an
 * orphan, not usage: counting it could report more than 100% used.
 */
export function planAllocatedCount(pool: Pool, usage: UsageView): number {
  let inside = 0;
  for (const value of usage.allocated) if (rangesContain(pool.ranges, value)) inside++;
  return inside;
}

/** Number of IPs of the pool not currently allocated: pool.total minus allocated IPs inside pool.ranges. */
export function planFreeCount(pool: Pool, usage: UsageView): bigint {
  return pool.total - BigInt(planAllocatedCount(pool, usage));
}
