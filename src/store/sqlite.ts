/**
 * SQLite store adapter (better-sqlite3): the default store of a node agent.
 * See docs/adr/0002-sqlite-store.md for why it looks the way it does.
 */
import { chmodSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { TidepoolError } from '../ipam/errors.ts';
import type { AllocationRecord, AllocationStore, IpHold, ListFilter, OwnerRef, PoolMove, PoolUsage, ReclaimJournal } from './port.ts';
import { migrate, type MigrationReport } from './sqlite-schema.ts';

export interface SqliteStoreOptions {
  /** Database file; created (with its schema) when missing. */
  readonly path: string;
  /**
   * `normal` (default): a resolved reserve/release survives a crash or
   * SIGKILL of any process, but the last commits may be lost on power loss or
   * kernel panic, because WAL frames are only fsynced at checkpoints.
   * `full`: every commit is fsynced, so it survives power loss too, at the
   * price of one fsync per reserve/release.
   */
  readonly synchronous?: 'normal' | 'full' | undefined;
  /** How long a write waits for another connection's lock before failing with STORE_BUSY. Default 5000 ms. */
  readonly busyTimeoutMs?: number | undefined;
  /** Clock for migration timestamps; defaults to Date.now. */
  readonly now?: (() => number) | undefined;
}

/** The SQLite store: the port, plus what only a node's own state file keeps. */
export interface SqliteStore extends AllocationStore {
  readonly addressScope: 'store';
  adopt(moves: readonly PoolMove[]): Promise<number>;
  /** The collector's first-seen-gone times (table `netns_gone`). */
  readonly journal: ReclaimJournal;
  /** A small named value (table `settings`), e.g. the pools file last applied. */
  readSetting(key: string): Promise<string | undefined>;
  writeSetting(key: string, value: string): Promise<void>;
  /** What opening the file migrated. */
  readonly migration: MigrationReport;
}

interface AllocationRow {
  pool: string;
  ip: string;
  container_id: string;
  ifname: string;
  netns: string;
  netns_id: string | null;
  node: string;
  network: string | null;
  pod_namespace: string | null;
  pod_name: string | null;
  pod_uid: string | null;
  stable_key: string | null;
  allocated_at: number;
  hold: string | null;
}

function toRecord(row: AllocationRow): AllocationRecord {
  const r: { -readonly [K in keyof AllocationRecord]: AllocationRecord[K] } = {
    pool: row.pool,
    ip: row.ip,
    containerId: row.container_id,
    ifname: row.ifname,
    netns: row.netns,
    node: row.node,
    allocatedAt: row.allocated_at,
  };
  // NULL means "not given"; keep such fields absent like the memory store does.
  if (row.netns_id !== null) r.netnsId = row.netns_id;
  if (row.network !== null) r.network = row.network;
  if (row.pod_namespace !== null) r.podNamespace = row.pod_namespace;
  if (row.pod_name !== null) r.podName = row.pod_name;
  if (row.pod_uid !== null) r.podUid = row.pod_uid;
  if (row.stable_key !== null) r.stableKey = row.stable_key;
  if (row.hold !== null) r.hold = JSON.parse(row.hold) as IpHold;
  return r;
}

function toRow(record: AllocationRecord): AllocationRow {
  return {
    pool: record.pool,
    ip: record.ip,
    container_id: record.containerId,
    ifname: record.ifname,
    netns: record.netns,
    netns_id: record.netnsId ?? null,
    node: record.node,
    network: record.network ?? null,
    pod_namespace: record.podNamespace ?? null,
    pod_name: record.podName ?? null,
    pod_uid: record.podUid ?? null,
    stable_key: record.stableKey ?? null,
    allocated_at: record.allocatedAt,
    hold: record.hold === undefined ? null : JSON.stringify(record.hold),
  };
}

function sqliteCode(err: unknown): string | undefined {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** Maps a driver error to the stable codes callers retry on: lock waits are STORE_BUSY, the rest IO_FAILURE. */
function storeError(err: unknown, path: string, op: string): TidepoolError {
  if (err instanceof TidepoolError) return err;
  const code = sqliteCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) {
    return new TidepoolError('STORE_BUSY', `store ${path}: ${op} timed out waiting for a lock (${message})`, { path, op, sqlite: code });
  }
  return new TidepoolError('IO_FAILURE', `store ${path}: ${op} failed: ${message}`, code ? { path, op, sqlite: code } : { path, op });
}

/** Files SQLite keeps beside the database in WAL mode. */
const COMPANIONS = ['-wal', '-shm'] as const;

/**
 * Opens the file, creating, checking and migrating it. Files are created
 * under umask 077 (the driver is synchronous, so nothing else runs while the
 * umask is narrowed), and a database or companion file that an older build
 * left readable by others is narrowed to 0600: the records name every
 * container, and anyone who can open `-shm` can lock the database.
 */
function openDatabase(opts: SqliteStoreOptions, busyTimeoutMs: number): { db: Database.Database; migration: MigrationReport } {
  const { path } = opts;
  const oldMask = process.umask(0o077);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: busyTimeoutMs });
    const migration = migrate(db, path, (opts.now ?? Date.now)());
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new TidepoolError('IO_FAILURE', `store ${path}: cannot enable WAL journal (got ${String(mode)})`, { path });
    db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    for (const file of [path, ...COMPANIONS.map((c) => path + c)]) ownerOnly(file);
    return { db, migration };
  } catch (err) {
    db?.close();
    if (sqliteCode(err) === 'SQLITE_NOTADB') throw new TidepoolError('IO_FAILURE', `${path} is not a tidepool store: the file is not a SQLite database`, { path });
    throw storeError(err, path, 'open');
  } finally {
    process.umask(oldMask);
  }
}

function ownerOnly(file: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st && (st.mode & 0o077) !== 0) chmodSync(file, 0o600);
}

const LIST_COLUMNS = [
  ['pool', 'pool'],
  ['containerId', 'container_id'],
  ['ifname', 'ifname'],
  ['node', 'node'],
  ['stableKey', 'stable_key'],
  ['podUid', 'pod_uid'],
] as const satisfies ReadonlyArray<readonly [keyof ListFilter, string]>;

/**
 * Opens (creating if needed) a SQLite store at `opts.path`, in WAL mode so
 * readers in other processes (the CLI) never block the writer (the agent).
 *
 * Guarantees, on top of the port's contract:
 * - a resolved `true` from reserve/release is committed before it resolves,
 *   and survives a crash of this process (see `synchronous` for power loss);
 * - any number of connections, in this or other processes, may share the
 *   file; the unique keys decide concurrent reserves (an address is held by
 *   one record, whatever its pool), and the owner check of release is part
 *   of the DELETE itself, so it cannot race;
 * - the database and its `-wal` and `-shm` files are readable and writable
 *   by their owner only;
 * - an older schema is migrated on open (docs/adr/0009-standalone-state.md);
 * - a write that cannot get the lock within `busyTimeoutMs` rejects with
 *   `STORE_BUSY`; other driver failures reject with `IO_FAILURE`;
 * - a file that is not a tidepool store, or has a newer schema version, is
 *   refused with `IO_FAILURE` naming the path, and left unmodified.
 * - `usage().allocated` is in IP text order and `usage().released` is oldest
 *   release first (ties by IP), the order least-recently-released reuse wants.
 *
 * The driver is synchronous: a lock wait blocks this thread's event loop
 * for up to `busyTimeoutMs`. WAL needs shared memory, so the file must be
 * on a local file system.
 */
export function createSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const path = opts.path;
  const { db, migration } = openDatabase(opts, opts.busyTimeoutMs ?? 5000);

  const insertAllocation = db.prepare<[AllocationRow]>(
    `INSERT INTO allocations (pool, ip, container_id, ifname, netns, netns_id, node, network, pod_namespace, pod_name, pod_uid, stable_key, allocated_at, hold)
     VALUES (@pool, @ip, @container_id, @ifname, @netns, @netns_id, @node, @network, @pod_namespace, @pod_name, @pod_uid, @stable_key, @allocated_at, @hold)
     ON CONFLICT DO NOTHING`,
  );
  // The owner check is in the WHERE clause, so a changed holder simply matches no row.
  const transferOwned = db.prepare<[AllocationRow & { from_container_id: string; from_ifname: string; from_pod_uid: string | null; from_stable_key: string | null }]>(
    `UPDATE allocations SET container_id = @container_id, ifname = @ifname, netns = @netns, netns_id = @netns_id, node = @node,
       network = @network, pod_namespace = @pod_namespace, pod_name = @pod_name, pod_uid = @pod_uid, stable_key = @stable_key, allocated_at = @allocated_at,
       hold = @hold
     WHERE pool = @pool AND ip = @ip AND ifname = @from_ifname
       AND ((container_id = @from_container_id AND (@from_pod_uid IS NULL OR pod_uid = @from_pod_uid))
         OR (@from_stable_key IS NOT NULL AND stable_key = @from_stable_key))`,
  );
  const forgetRelease = db.prepare<[string, string]>('DELETE FROM releases WHERE pool = ? AND ip = ?');
  // The same ownership rule as transferOwned.
  const deleteOwned = db.prepare<[{ pool: string; ip: string; container_id: string; ifname: string; pod_uid: string | null; stable_key: string | null }]>(
    `DELETE FROM allocations WHERE pool = @pool AND ip = @ip AND ifname = @ifname
       AND ((container_id = @container_id AND (@pod_uid IS NULL OR pod_uid = @pod_uid))
         OR (@stable_key IS NOT NULL AND stable_key = @stable_key))`,
  );
  const rememberRelease = db.prepare<[string, string, number, number | null]>(
    `INSERT INTO releases (pool, ip, released_at, reusable_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (pool, ip) DO UPDATE SET released_at = excluded.released_at, reusable_at = excluded.reusable_at`,
  );
  const allocatedIps = db.prepare<[string], { ip: string }>('SELECT ip FROM allocations WHERE pool = ? ORDER BY ip');
  const releasedIps = db.prepare<[string], { ip: string; released_at: number; reusable_at: number | null }>(
    'SELECT ip, released_at, reusable_at FROM releases WHERE pool = ? ORDER BY released_at, ip',
  );
  // One statement per combination of filter fields actually used, so each can use the indexes.
  const listStatements = new Map<number, Database.Statement<unknown[], AllocationRow>>();
  const listStatement = (mask: number): Database.Statement<unknown[], AllocationRow> => {
    let stmt = listStatements.get(mask);
    if (!stmt) {
      const where = LIST_COLUMNS.filter((_, i) => mask & (1 << i)).map(([, col]) => `${col} = ?`);
      stmt = db.prepare<unknown[], AllocationRow>(
        `SELECT * FROM allocations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY pool, ip`,
      );
      listStatements.set(mask, stmt);
    }
    return stmt;
  };

  // IMMEDIATE takes the write lock up front, so a lock conflict waits in the
  // busy handler instead of failing at the first write (SQLITE_BUSY_SNAPSHOT).
  const reserveTx = db.transaction((row: AllocationRow): boolean => {
    if (insertAllocation.run(row).changes !== 1) return false;
    forgetRelease.run(row.pool, row.ip);
    return true;
  });
  const releaseTx = db.transaction((pool: string, ip: string, owner: OwnerRef, releasedAt: number, reusableAt: number | null): boolean => {
    const deleted = deleteOwned.run({ pool, ip, container_id: owner.containerId, ifname: owner.ifname, pod_uid: owner.podUid ?? null, stable_key: owner.stableKey ?? null });
    if (deleted.changes !== 1) return false;
    rememberRelease.run(pool, ip, releasedAt, reusableAt);
    return true;
  });

  // A held IP has no release row in its new pool either: an IP is never both held and released.
  const moveAllocation = db.prepare<[string, string, string]>('UPDATE allocations SET pool = ? WHERE pool = ? AND ip = ?');
  const adoptTx = db.transaction((moves: readonly PoolMove[]): number => {
    let moved = 0;
    for (const m of moves) {
      if (moveAllocation.run(m.to, m.pool, m.ip).changes !== 1) continue;
      forgetRelease.run(m.to, m.ip);
      moved++;
    }
    return moved;
  });
  const goneRows = db.prepare<[], { key: string; since: number }>('SELECT key, since FROM netns_gone');
  const clearGone = db.prepare('DELETE FROM netns_gone');
  const insertGone = db.prepare<[string, number]>('INSERT INTO netns_gone (key, since) VALUES (?, ?)');
  const saveGoneTx = db.transaction((entries: ReadonlyMap<string, number>) => {
    clearGone.run();
    for (const [key, since] of entries) insertGone.run(key, since);
  });
  const readSettingStmt = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?');
  const writeSettingStmt = db.prepare<[string, string]>('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');

  // One read transaction, so allocated and released come from the same snapshot.
  const usageTx = db.transaction(
    (pool: string): PoolUsage => ({
      allocated: allocatedIps.all(pool).map((r) => r.ip),
      released: releasedIps.all(pool).map((r) => (r.reusable_at === null ? ([r.ip, r.released_at] as const) : ([r.ip, r.released_at, r.reusable_at] as const))),
    }),
  );

  let closed = false;
  const run = <T>(op: string, fn: () => T): Promise<T> => {
    if (closed) return Promise.reject(new TidepoolError('IO_FAILURE', `store ${path} is closed`, { path, op }));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(storeError(err, path, op));
    }
  };

  return {
    addressScope: 'store',
    migration,

    reserve(record) {
      return run('reserve', () => reserveTx.immediate(toRow(record)));
    },

    adopt(moves) {
      return run('adopt', () => adoptTx.immediate(moves));
    },

    journal: {
      load: () => run('journal load', () => new Map(goneRows.all().map((r) => [r.key, r.since]))),
      save: (entries) => run('journal save', () => saveGoneTx.immediate(entries)),
    },

    readSetting(key) {
      return run('read setting', () => readSettingStmt.get(key)?.value);
    },

    writeSetting(key, value) {
      return run('write setting', () => {
        writeSettingStmt.run(key, value);
      });
    },

    transfer(from, to) {
      return run('transfer', () => {
        const row = { ...toRow(to), from_container_id: from.containerId, from_ifname: from.ifname, from_pod_uid: from.podUid ?? null, from_stable_key: from.stableKey ?? null };
        return transferOwned.run(row).changes === 1;
      });
    },

    release(pool, ip, owner, releasedAt, reusableAt) {
      return run('release', () => releaseTx.immediate(pool, ip, owner, releasedAt, reusableAt ?? null));
    },

    list(filter: ListFilter = {}) {
      return run('list', () => {
        let mask = 0;
        const params: string[] = [];
        LIST_COLUMNS.forEach(([key], i) => {
          const value = filter[key];
          if (value !== undefined) {
            mask |= 1 << i;
            params.push(value);
          }
        });
        return listStatement(mask).all(...params).map(toRecord);
      });
    },

    usage(pool): Promise<PoolUsage> {
      return run('usage', () => usageTx.deferred(pool));
    },

    async close() {
      if (closed) return;
      closed = true;
      try {
        db.close();
      } catch (err) {
        throw storeError(err, path, 'close');
      }
    },
  };
}
