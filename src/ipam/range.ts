/**
 * Sets of IPs as sorted lists of inclusive ranges. Pools can be as large as an
 * IPv6 /64, so every operation here is linear (or log) in the number of
 * ranges and never in the number of addresses.
 */
import type { Family } from './address.ts';
import { formatAddress, parseAddress } from './address.ts';

/** Inclusive range of addresses of one family; start <= end. */
export interface IPRange {
  readonly family: Family;
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * Parses `a` or `a-b` (no spaces around '-'), where both ends are addresses
 * of the same family and a <= b. Returns undefined otherwise.
 */
export function parseRangeSpec(text: string): IPRange | undefined {
  const dash = text.indexOf('-');
  if (dash === -1) {
    const a = parseAddress(text);
    return a === undefined ? undefined : { family: a.family, start: a.value, end: a.value };
  }
  const start = parseAddress(text.slice(0, dash));
  const end = parseAddress(text.slice(dash + 1));
  if (start === undefined || end === undefined) return undefined;
  if (start.family !== end.family || start.value > end.value) return undefined;
  return { family: start.family, start: start.value, end: end.value };
}

/** Canonical text: `a` for a single address, else `a-b`; parseRangeSpec reads it back. */
export function formatRange(r: IPRange): string {
  const start = formatAddress({ family: r.family, value: r.start });
  if (r.start === r.end) return start;
  return `${start}-${formatAddress({ family: r.family, value: r.end })}`;
}

function byStart(a: IPRange, b: IPRange): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
}

/**
 * The same set of addresses as the fewest ranges: sorted by start, with no two
 * ranges overlapping or touching. Assumes all ranges share one family. Does
 * not modify its input.
 */
export function normalizeRanges(rs: readonly IPRange[]): IPRange[] {
  const sorted = [...rs].sort(byStart);
  const out: IPRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end + 1n) {
      if (r.end > last.end) out[out.length - 1] = { family: last.family, start: last.start, end: r.end };
    } else {
      out.push({ family: r.family, start: r.start, end: r.end });
    }
  }
  return out;
}

/** Addresses in `from` that are not in `remove`, normalized. */
export function subtractRanges(from: readonly IPRange[], remove: readonly IPRange[]): IPRange[] {
  const a = normalizeRanges(from);
  const b = normalizeRanges(remove);
  const out: IPRange[] = [];
  let j = 0;
  for (const f of a) {
    let start = f.start;
    while (j < b.length && (b[j] as IPRange).end < start) j++;
    // b[j] may also cover the next range of `a`, so only a local cursor moves past it.
    for (let k = j; k < b.length && start <= f.end; k++) {
      const r = b[k] as IPRange;
      if (r.start > f.end) break;
      if (r.start > start) out.push({ family: f.family, start, end: r.start - 1n });
      start = r.end + 1n;
    }
    if (start <= f.end) out.push({ family: f.family, start, end: f.end });
  }
  // Pieces come from disjoint, non-touching ranges of `a` and are split by removed addresses, so they are already normalized.
  return out;
}

/** Addresses in both `a` and `b`, normalized. */
export function intersectRanges(a: readonly IPRange[], b: readonly IPRange[]): IPRange[] {
  const x = normalizeRanges(a);
  const y = normalizeRanges(b);
  const out: IPRange[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const p = x[i] as IPRange;
    const q = y[j] as IPRange;
    const start = p.start > q.start ? p.start : q.start;
    const end = p.end < q.end ? p.end : q.end;
    if (start <= end) out.push({ family: p.family, start, end });
    if (p.end < q.end) i++;
    else j++;
  }
  return out;
}

/** Number of addresses in the ranges; `rs` must not overlap (normalized ranges never do). */
export function rangesSize(rs: readonly IPRange[]): bigint {
  let n = 0n;
  for (const r of rs) n += r.end - r.start + 1n;
  return n;
}

/** Whether `value` lies in one of `rs`; `rs` must be normalized. O(log |rs|). */
export function rangesContain(rs: readonly IPRange[], value: bigint): boolean {
  let lo = 0;
  let hi = rs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = rs[mid] as IPRange;
    if (value < r.start) hi = mid - 1;
    else if (value > r.end) lo = mid + 1;
    else return true;
  }
  return false;
}
