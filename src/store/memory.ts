/**
 * In-process store adapter: for tests, benchmarks and `--store memory` runs
 * where losing every allocation on restart is acceptable.
 */
import { TidepoolError } from '../ipam/errors.ts';
import type { AllocationRecord, AllocationStore, ListFilter, OwnerRef, PoolMove, PoolUsage } from './port.ts';

/**
 * Copies the known fields of `record`, leaving absent optional fields absent,
 * so neither the caller's object nor a returned one aliases internal state.
 */
function copyRecord(record: AllocationRecord): AllocationRecord {
  const copy: {
    -readonly [K in keyof AllocationRecord]: AllocationRecord[K];
  } = {
    pool: record.pool,
    ip: record.ip,
    containerId: record.containerId,
    ifname: record.ifname,
    netns: record.netns,
    node: record.node,
    allocatedAt: record.allocatedAt,
  };
  if (record.netnsId !== undefined) copy.netnsId = record.netnsId;
  if (record.network !== undefined) copy.network = record.network;
  if (record.podNamespace !== undefined) copy.podNamespace = record.podNamespace;
  if (record.podName !== undefined) copy.podName = record.podName;
  if (record.podUid !== undefined) copy.podUid = record.podUid;
  if (record.stableKey !== undefined) copy.stableKey = record.stableKey;
  if (record.hold !== undefined) copy.hold = { ...record.hold };
  return copy;
}

function isHeldBy(holder: AllocationRecord, owner: OwnerRef): boolean {
  if (owner.stableKey !== undefined && holder.stableKey === owner.stableKey && holder.ifname === owner.ifname) return true;
  if (holder.containerId !== owner.containerId || holder.ifname !== owner.ifname) return false;
  return owner.podUid === undefined || holder.podUid === owner.podUid;
}

/** Code-unit order, not locale order: it must agree with SQLite's BINARY collation. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A store that lives in this process only. Every operation does its whole
 * check-and-update synchronously before its promise settles, so no async
 * interleaving of callers can observe or create a half-done state: of any
 * number of concurrent reserves of one IP, exactly one wins, and an address
 * is held once whatever its pool, like the SQLite store. Records
 * are copied on the way in and out. `usage()` orders like the SQLite store:
 * allocated by IP text, released oldest first. Durability is trivially "as long as the
 * process lives", which is weaker than the port's crash promise: use it only
 * where that is acceptable.
 */
export function createMemoryStore(): AllocationStore {
  // pool -> ip -> record / release time; nested so usage(pool) needs no scan.
  const held = new Map<string, Map<string, AllocationRecord>>();
  const released = new Map<string, Map<string, [releasedAt: number, reusableAt: number | undefined]>>();
  // ip -> the pool holding it: an address is held once in the whole store.
  const holderPool = new Map<string, string>();
  let closed = false;

  const ensureOpen = (): void => {
    if (closed) throw new TidepoolError('IO_FAILURE', 'memory store is closed');
  };
  const poolMap = <V>(maps: Map<string, Map<string, V>>, pool: string): Map<string, V> => {
    let m = maps.get(pool);
    if (!m) {
      m = new Map();
      maps.set(pool, m);
    }
    return m;
  };

  return {
    addressScope: 'store',

    async reserve(record) {
      ensureOpen();
      if (holderPool.has(record.ip)) return false;
      poolMap(held, record.pool).set(record.ip, copyRecord(record));
      holderPool.set(record.ip, record.pool);
      released.get(record.pool)?.delete(record.ip);
      return true;
    },

    async adopt(moves: readonly PoolMove[]) {
      ensureOpen();
      let moved = 0;
      for (const m of moves) {
        const holder = held.get(m.pool)?.get(m.ip);
        if (!holder) continue;
        held.get(m.pool)!.delete(m.ip);
        poolMap(held, m.to).set(m.ip, { ...holder, pool: m.to });
        holderPool.set(m.ip, m.to);
        released.get(m.to)?.delete(m.ip);
        moved++;
      }
      return moved;
    },

    async release(poolName: string, ip: string, owner: OwnerRef, releasedAt: number, reusableAt?: number) {
      ensureOpen();
      const pool = held.get(poolName);
      const holder = pool?.get(ip);
      if (!pool || !holder || !isHeldBy(holder, owner)) return false;
      pool.delete(ip);
      holderPool.delete(ip);
      poolMap(released, poolName).set(ip, [releasedAt, reusableAt]);
      return true;
    },

    async transfer(from: OwnerRef, to: AllocationRecord) {
      ensureOpen();
      const pool = held.get(to.pool);
      const holder = pool?.get(to.ip);
      if (!pool || !holder || !isHeldBy(holder, from)) return false;
      pool.set(to.ip, copyRecord(to));
      return true;
    },

    async list(filter: ListFilter = {}) {
      ensureOpen();
      const out: AllocationRecord[] = [];
      const pools = filter.pool !== undefined ? [filter.pool] : [...held.keys()];
      for (const name of pools) {
        for (const r of held.get(name)?.values() ?? []) {
          if (filter.containerId !== undefined && r.containerId !== filter.containerId) continue;
          if (filter.ifname !== undefined && r.ifname !== filter.ifname) continue;
          if (filter.node !== undefined && r.node !== filter.node) continue;
          if (filter.stableKey !== undefined && r.stableKey !== filter.stableKey) continue;
          if (filter.podUid !== undefined && r.podUid !== filter.podUid) continue;
          out.push(copyRecord(r));
        }
      }
      return out.sort((a, b) => compareText(a.pool, b.pool) || compareText(a.ip, b.ip));
    },

    async usage(poolName: string): Promise<PoolUsage> {
      ensureOpen();
      const allocated = [...(held.get(poolName)?.keys() ?? [])].sort(compareText);
      // Oldest release first, the order the allocator prefers for reuse.
      const rel = [...(released.get(poolName)?.entries() ?? [])]
        .sort((a, b) => a[1][0] - b[1][0] || compareText(a[0], b[0]))
        .map(([ip, [at, reusableAt]]) => (reusableAt === undefined ? ([ip, at] as const) : ([ip, at, reusableAt] as const)));
      return { allocated, released: rel };
    },

    async close() {
      closed = true;
      held.clear();
      released.clear();
      holderPool.clear();
    },
  };
}
