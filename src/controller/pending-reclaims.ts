/**
 * The allocations the garbage collector has found reclaimable and not yet
 * released, with the moment each became so: what
 * `tidepool_gc_oldest_pending_reclaim_seconds` reports, so an IP held past
 * the collector's bound (an API outage, a stuck worker, a cache that never
 * agrees with the API server) shows before anyone runs out of addresses.
 */
export interface PendingReclaims {
  /** `key` is reclaimable since `since` (ms); an earlier moment already noted stays. */
  note(key: string, since: number): void;
  /** `key` was released, or is no longer reclaimable. */
  clear(key: string): void;
  /** Forgets every key not in `reclaimable` (a full scan's finding). */
  retainOnly(reclaimable: ReadonlySet<string>): void;
  /** Forgets everything (the term ended). */
  reset(): void;
  /** The earliest moment noted, or undefined when nothing waits. */
  oldest(): number | undefined;
}

export function createPendingReclaims(): PendingReclaims {
  const since = new Map<string, number>();
  return {
    note(key, at) {
      const known = since.get(key);
      if (known === undefined || at < known) since.set(key, at);
    },
    clear: (key) => void since.delete(key),
    retainOnly(reclaimable) {
      for (const key of [...since.keys()]) if (!reclaimable.has(key)) since.delete(key);
    },
    reset: () => since.clear(),
    oldest() {
      let min: number | undefined;
      for (const at of since.values()) if (min === undefined || at < min) min = at;
      return min;
    },
  };
}
