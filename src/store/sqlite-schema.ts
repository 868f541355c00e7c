/**
 * The SQLite state file's schema, its identity and its migrations. See
 * docs/adr/0002-sqlite-store.md and docs/adr/0009-standalone-state.md.
 */
import type Database from 'better-sqlite3';
import { TidepoolError } from '../ipam/errors.ts';

/** Version of the schema below; stored in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 3;
/** 'tidp': marks the file as ours in `PRAGMA application_id`, so a foreign database is refused before it is touched. */
const APPLICATION_ID = 0x74696470;

const ALLOCATION_COLUMNS = `
  pool TEXT NOT NULL,
  ip TEXT NOT NULL,
  container_id TEXT NOT NULL,
  ifname TEXT NOT NULL,
  netns TEXT NOT NULL,
  netns_id TEXT,
  node TEXT NOT NULL,
  network TEXT,
  pod_namespace TEXT,
  pod_name TEXT,
  pod_uid TEXT,
  stable_key TEXT,
  allocated_at INTEGER NOT NULL`;

/** Version 1: allocations keyed by (pool, ip), and the release history. */
const SCHEMA_V1 = `
CREATE TABLE allocations (${ALLOCATION_COLUMNS},
  PRIMARY KEY (pool, ip)
);
CREATE INDEX allocations_attachment ON allocations (container_id, ifname);
CREATE TABLE releases (
  pool TEXT NOT NULL,
  ip TEXT NOT NULL,
  released_at INTEGER NOT NULL,
  reusable_at INTEGER,
  PRIMARY KEY (pool, ip)
);
`;

/**
 * Version 2:
 * - an address is held by one record, whatever its pool (`allocations_ip`);
 * - `netns_gone`: when the collector first saw each record's namespace gone;
 * - `settings`: small named values, such as the pools file last applied;
 * - `displaced_allocations`: records the v1 to v2 migration took out because
 *   an older record held the same address, kept for the operator.
 */
const SCHEMA_V2_ADDITIONS = `
CREATE UNIQUE INDEX allocations_ip ON allocations (ip);
CREATE TABLE netns_gone (
  key TEXT PRIMARY KEY,
  since INTEGER NOT NULL
);
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS displaced_allocations (${ALLOCATION_COLUMNS},
  displaced_at INTEGER NOT NULL
);
`;

/**
 * Version 3: `hold`, JSON of an IP held out of use (an address another host
 * answered for), on records and on displaced records alike.
 */
const SCHEMA_V3_ADDITIONS = `
ALTER TABLE allocations ADD COLUMN hold TEXT;
ALTER TABLE displaced_allocations ADD COLUMN hold TEXT;
`;

/** What opening the file changed, for the caller to log. */
export interface MigrationReport {
  /** The schema version the file had, or 0 when it was created. */
  readonly from: number;
  /**
   * Records moved to `displaced_allocations` because an older record held
   * the same address (two pods were given one IP by a version-1 store).
   */
  readonly displaced: ReadonlyArray<{ readonly pool: string; readonly ip: string; readonly containerId: string; readonly netns: string; readonly keptPool: string; readonly keptContainerId: string }>;
}

function notOurs(path: string, why: string): TidepoolError {
  return new TidepoolError('IO_FAILURE', `${path} is not a tidepool store: ${why}`, { path });
}

/** The file's schema version, 0 for an empty file; refuses foreign or newer files without changing them. */
export function checkIdentity(db: Database.Database, path: string): number {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const objects = (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n;
  if (appId === 0 && version === 0 && objects === 0) return 0;
  if (appId !== APPLICATION_ID) {
    throw notOurs(path, `it is a SQLite database of another application (application_id ${appId}, user_version ${version}, ${objects} schema objects)`);
  }
  if (version > SCHEMA_VERSION) {
    throw new TidepoolError(
      'IO_FAILURE',
      `${path} has tidepool store schema version ${version}, newer than the ${SCHEMA_VERSION} this build understands; upgrade tidepool`,
      { path, version, supported: SCHEMA_VERSION },
    );
  }
  if (version < 1) throw notOurs(path, `application_id is tidepool's but user_version is ${version}`);
  return version;
}

/**
 * Brings the file to SCHEMA_VERSION under the write lock (two processes may
 * open one file at once, so the version is read again inside). Runs before
 * WAL is switched on, so a refused file is never modified.
 */
export function migrate(db: Database.Database, path: string, now: number): MigrationReport {
  let report: MigrationReport = { from: SCHEMA_VERSION, displaced: [] };
  if (checkIdentity(db, path) === SCHEMA_VERSION) return report;
  db.transaction(() => {
    const from = checkIdentity(db, path);
    if (from === SCHEMA_VERSION) return;
    if (from === 0) {
      db.exec(SCHEMA_V1);
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }
    if (from < 2) {
      report = { from, displaced: displaceDuplicates(db, now) };
      db.exec(SCHEMA_V2_ADDITIONS);
    } else {
      report = { from, displaced: [] };
    }
    db.exec(SCHEMA_V3_ADDITIONS);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  return report;
}

/**
 * Version 1 keyed records by (pool, ip), so a renamed pool could hand out an
 * address a live pod held. Before the one-holder index can exist, every
 * address held twice keeps its oldest record (the first pod given it; the
 * others got it by mistake) and the rest move aside, kept for the operator.
 */
function displaceDuplicates(db: Database.Database, now: number): MigrationReport['displaced'] {
  const rows = db
    .prepare(
      `SELECT a.pool, a.ip, a.container_id, a.netns, k.pool AS kept_pool, k.container_id AS kept_container_id
       FROM allocations a JOIN allocations k ON k.ip = a.ip
       WHERE (k.allocated_at, k.pool) < (a.allocated_at, a.pool)
         AND NOT EXISTS (SELECT 1 FROM allocations o WHERE o.ip = a.ip AND (o.allocated_at, o.pool) < (k.allocated_at, k.pool))
       ORDER BY a.ip, a.pool`,
    )
    .all() as Array<{ pool: string; ip: string; container_id: string; netns: string; kept_pool: string; kept_container_id: string }>;
  if (rows.length === 0) return [];
  db.exec(`CREATE TABLE displaced_allocations (${ALLOCATION_COLUMNS}, displaced_at INTEGER NOT NULL)`);
  const move = db.prepare('INSERT INTO displaced_allocations SELECT *, ? FROM allocations WHERE pool = ? AND ip = ?');
  const drop = db.prepare('DELETE FROM allocations WHERE pool = ? AND ip = ?');
  for (const r of rows) {
    move.run(now, r.pool, r.ip);
    drop.run(r.pool, r.ip);
  }
  return rows.map((r) => ({ pool: r.pool, ip: r.ip, containerId: r.container_id, netns: r.netns, keptPool: r.kept_pool, keptContainerId: r.kept_container_id }));
}
