import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { TidepoolError } from '../ipam/errors.ts';
import { runStoreContract } from './contract.ts';
import type { AllocationRecord } from './port.ts';
import { createSqliteStore } from './sqlite.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidepool-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

runStoreContract('sqlite store', async () => {
  const dir = tempDir();
  const store = createSqliteStore({ path: path.join(dir, 'store.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

function record(overrides: Partial<AllocationRecord> = {}): AllocationRecord {
  return { pool: 'p', ip: '10.0.0.1', containerId: 'c', ifname: 'eth0', netns: '/run/netns/x', node: 'n', allocatedAt: 1, ...overrides };
}

/** Asserts `fn` throws a TidepoolError with `code` whose message names `file`. */
function assertStoreError(fn: () => unknown, code: string, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TidepoolError, `expected TidepoolError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.ok(err.message.includes(file), `message should name ${file}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('sqlite store, file behaviour', () => {
  test('allocations and release history persist across close and reopen', async () => {
    const file = path.join(tempDir(), 'store.db');
    const first = createSqliteStore({ path: file, synchronous: 'full' });
    const kept = record({ ip: '10.0.0.1', podUid: 'u1', netnsId: '4:1', podNamespace: 'ns', podName: 'pod' });
    assert.equal(await first.reserve(kept), true);
    assert.equal(await first.reserve(record({ ip: '10.0.0.2' })), true);
    assert.equal(await first.release('p', '10.0.0.2', { containerId: 'c', ifname: 'eth0' }, 77), true);
    await first.close();

    const second = createSqliteStore({ path: file });
    assert.deepEqual(await second.list(), [kept]);
    assert.deepEqual(await second.usage('p'), { allocated: ['10.0.0.1'], released: [['10.0.0.2', 77]] });
    assert.equal(await second.reserve(record({ ip: '10.0.0.1', containerId: 'other' })), false);
    await second.close();
  });

  test('usage lists released IPs oldest release first', async () => {
    const store = createSqliteStore({ path: path.join(tempDir(), 'store.db') });
    for (const [ip, at] of [['10.0.0.1', 30], ['10.0.0.2', 10], ['10.0.0.3', 20]] as const) {
      assert.equal(await store.reserve(record({ ip })), true);
      assert.equal(await store.release('p', ip, { containerId: 'c', ifname: 'eth0' }, at), true);
    }
    assert.deepEqual((await store.usage('p')).released, [['10.0.0.2', 10], ['10.0.0.3', 20], ['10.0.0.1', 30]]);
    await store.close();
  });

  test('the database is in WAL mode with the schema version set', async () => {
    const file = path.join(tempDir(), 'store.db');
    await createSqliteStore({ path: file }).close();
    const raw = new Database(file, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(raw.pragma('user_version', { simple: true }), 3);
      const tables = raw.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name").all();
      assert.deepEqual(
        tables.map((t) => (t as { name: string }).name),
        [
          'allocations',
          'allocations_attachment',
          'allocations_ip',
          'displaced_allocations',
          'netns_gone',
          'releases',
          'settings',
          'sqlite_autoindex_allocations_1',
          'sqlite_autoindex_netns_gone_1',
          'sqlite_autoindex_releases_1',
          'sqlite_autoindex_settings_1',
        ],
      );
    } finally {
      raw.close();
    }
  });

  test('a SQLite database of another application is refused by path and left untouched', () => {
    const file = path.join(tempDir(), 'other.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE t (x)');
    raw.close();
    const before = fs.readFileSync(file);
    assertStoreError(() => createSqliteStore({ path: file }), 'IO_FAILURE', file, /not a tidepool store: .*another application/);
    assert.deepEqual(fs.readFileSync(file), before, 'the foreign file must not be modified');
    assert.equal(fs.existsSync(`${file}-wal`), false);
  });

  test('a file that is not SQLite at all is refused by path', () => {
    const file = path.join(tempDir(), 'garbage.db');
    fs.writeFileSync(file, 'this is not a database, just some text that is long enough to have a header'.repeat(20));
    assertStoreError(() => createSqliteStore({ path: file }), 'IO_FAILURE', file, /not a tidepool store: the file is not a SQLite database/);
  });

  test('a tidepool store with a newer schema version is refused by path', async () => {
    const file = path.join(tempDir(), 'store.db');
    await createSqliteStore({ path: file }).close();
    const raw = new Database(file);
    raw.pragma('user_version = 4');
    raw.close();
    assertStoreError(() => createSqliteStore({ path: file }), 'IO_FAILURE', file, /schema version 4, newer than the 3/);
  });

  test('a path in a missing directory fails with IO_FAILURE naming it', () => {
    const file = path.join(tempDir(), 'missing', 'store.db');
    assertStoreError(() => createSqliteStore({ path: file }), 'IO_FAILURE', file, /open failed/);
  });

  test('two stores on one file racing 50 reserves of one IP give exactly one winner', async () => {
    const file = path.join(tempDir(), 'store.db');
    const a = createSqliteStore({ path: file });
    const b = createSqliteStore({ path: file });
    try {
      const attempts = Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).reserve(record({ containerId: `c-${i}` })));
      const results = await Promise.all(attempts);
      assert.equal(results.filter((r) => r).length, 1);
      const winner = `c-${results.indexOf(true)}`;
      assert.deepEqual((await a.list()).map((r) => r.containerId), [winner]);
      assert.deepEqual((await b.list()).map((r) => r.containerId), [winner]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a write blocked by another connection past busyTimeoutMs rejects with STORE_BUSY; reads still work', async () => {
    const file = path.join(tempDir(), 'store.db');
    const store = createSqliteStore({ path: file, busyTimeoutMs: 50 });
    assert.equal(await store.reserve(record()), true);
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      await assert.rejects(store.reserve(record({ ip: '10.0.0.2' })), (err: unknown) => {
        assert.ok(err instanceof TidepoolError);
        assert.equal(err.code, 'STORE_BUSY');
        assert.ok(err.message.includes(file));
        return true;
      });
      assert.ok(Date.now() - started >= 40, 'it should have waited for the busy timeout');
      await assert.rejects(store.release('p', '10.0.0.1', { containerId: 'c', ifname: 'eth0' }, 1), { code: 'STORE_BUSY' });
      assert.equal((await store.list()).length, 1, 'WAL readers are not blocked by a writer');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    assert.equal(await store.reserve(record({ ip: '10.0.0.2' })), true, 'the store works again once the lock is gone');
    await store.close();
  });
});

/** A state file as tidepool builds with schema version 1 wrote it: frozen here, not derived from the current schema. */
function writeVersion1File(file: string, rows: ReadonlyArray<{ pool: string; ip: string; containerId: string; allocatedAt: number }>): void {
  const raw = new Database(file);
  raw.exec(`
    CREATE TABLE allocations (pool TEXT NOT NULL, ip TEXT NOT NULL, container_id TEXT NOT NULL, ifname TEXT NOT NULL, netns TEXT NOT NULL,
      netns_id TEXT, node TEXT NOT NULL, network TEXT, pod_namespace TEXT, pod_name TEXT, pod_uid TEXT, stable_key TEXT,
      allocated_at INTEGER NOT NULL, PRIMARY KEY (pool, ip));
    CREATE INDEX allocations_attachment ON allocations (container_id, ifname);
    CREATE TABLE releases (pool TEXT NOT NULL, ip TEXT NOT NULL, released_at INTEGER NOT NULL, reusable_at INTEGER, PRIMARY KEY (pool, ip));
    PRAGMA application_id = ${0x74696470};
    PRAGMA user_version = 1;
    PRAGMA journal_mode = WAL;
  `);
  const insert = raw.prepare("INSERT INTO allocations (pool, ip, container_id, ifname, netns, node, allocated_at) VALUES (?, ?, ?, 'eth0', ?, 'n', ?)");
  for (const r of rows) insert.run(r.pool, r.ip, r.containerId, `/run/netns/${r.containerId}`, r.allocatedAt);
  raw.prepare('INSERT INTO releases VALUES (?, ?, ?, NULL)').run('pool-b', '10.250.6.40', 5);
  raw.close();
}

describe('sqlite store, schema version 2 files', () => {
  test('a version 2 file gains the hold column and keeps its records; a hold round-trips', async () => {
    const file = path.join(tempDir(), 'state.db');
    writeVersion1File(file, [{ pool: 'pool-b', ip: '10.250.6.11', containerId: 'b1', allocatedAt: 10 }]);
    // Through a version 2 store: the build before holds, as far as the file can tell.
    const raw = new Database(file);
    raw.exec(`
      CREATE UNIQUE INDEX allocations_ip ON allocations (ip);
      CREATE TABLE netns_gone (key TEXT PRIMARY KEY, since INTEGER NOT NULL);
      CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE displaced_allocations (pool TEXT NOT NULL, ip TEXT NOT NULL, container_id TEXT NOT NULL, ifname TEXT NOT NULL, netns TEXT NOT NULL,
        netns_id TEXT, node TEXT NOT NULL, network TEXT, pod_namespace TEXT, pod_name TEXT, pod_uid TEXT, stable_key TEXT,
        allocated_at INTEGER NOT NULL, displaced_at INTEGER NOT NULL);
      PRAGMA user_version = 2;
    `);
    raw.close();
    const store = createSqliteStore({ path: file });
    try {
      assert.deepEqual(store.migration, { from: 2, displaced: [] });
      assert.deepEqual((await store.list()).map((r) => `${r.pool}/${r.ip}/${r.containerId}/${String(r.hold)}`), ['pool-b/10.250.6.11/b1/undefined']);
      const hold = { reason: 'ip-conflict' as const, mac: 'aa:bb:cc:dd:ee:ff', until: 99 };
      assert.equal(await store.reserve(record({ pool: 'pool-b', ip: '10.250.6.12', containerId: 'hold:ip-conflict', netns: '', hold })), true);
      assert.deepEqual((await store.list({ containerId: 'hold:ip-conflict' }))[0]?.hold, hold);
    } finally {
      await store.close();
    }
  });
});

describe('sqlite store, schema version 1 files', () => {
  test('a version 1 file is migrated in place, keeping every record and the release history', async () => {
    const file = path.join(tempDir(), 'state.db');
    writeVersion1File(file, [
      { pool: 'pool-b', ip: '10.250.6.11', containerId: 'b1', allocatedAt: 10 },
      { pool: 'pool-b', ip: '10.250.6.12', containerId: 'b2', allocatedAt: 11 },
    ]);
    const store = createSqliteStore({ path: file });
    try {
      assert.deepEqual(store.migration, { from: 1, displaced: [] });
      assert.deepEqual((await store.list()).map((r) => `${r.pool}/${r.ip}/${r.containerId}`), ['pool-b/10.250.6.11/b1', 'pool-b/10.250.6.12/b2']);
      assert.deepEqual((await store.usage('pool-b')).released, [['10.250.6.40', 5]]);
      assert.equal(await store.reserve(record({ pool: 'pool-c', ip: '10.250.6.12' })), false, 'after the migration an address is held once');
    } finally {
      await store.close();
    }
    const again = createSqliteStore({ path: file });
    assert.deepEqual(again.migration, { from: 3, displaced: [] }, 'a migrated file is not migrated twice');
    await again.close();
  });

  test('an address a version 1 file holds twice keeps its oldest holder; the others are moved aside and reported', async () => {
    const file = path.join(tempDir(), 'state.db');
    writeVersion1File(file, [
      { pool: 'pool-b', ip: '10.250.6.12', containerId: 'long-b2', allocatedAt: 100 },
      { pool: 'pool-c', ip: '10.250.6.12', containerId: 'long-c1', allocatedAt: 200 },
      { pool: 'pool-d', ip: '10.250.6.12', containerId: 'long-d1', allocatedAt: 300 },
      { pool: 'pool-c', ip: '10.250.6.13', containerId: 'long-c2', allocatedAt: 210 },
    ]);
    const store = createSqliteStore({ path: file, now: () => 999 });
    try {
      assert.equal(store.migration.from, 1);
      assert.deepEqual(
        store.migration.displaced.map((d) => `${d.ip} ${d.pool}/${d.containerId} kept ${d.keptPool}/${d.keptContainerId}`),
        ['10.250.6.12 pool-c/long-c1 kept pool-b/long-b2', '10.250.6.12 pool-d/long-d1 kept pool-b/long-b2'],
      );
      assert.deepEqual((await store.list()).map((r) => `${r.pool}/${r.ip}/${r.containerId}`), ['pool-b/10.250.6.12/long-b2', 'pool-c/10.250.6.13/long-c2']);
    } finally {
      await store.close();
    }
    const raw = new Database(file, { readonly: true });
    try {
      const kept = raw.prepare('SELECT pool, container_id, displaced_at FROM displaced_allocations ORDER BY pool').all();
      assert.deepEqual(kept, [
        { pool: 'pool-c', container_id: 'long-c1', displaced_at: 999 },
        { pool: 'pool-d', container_id: 'long-d1', displaced_at: 999 },
      ]);
    } finally {
      raw.close();
    }
  });
});

describe('sqlite store, what only the state file keeps', () => {
  test('the reclaim journal and settings survive close and reopen; save replaces the journal', async () => {
    const file = path.join(tempDir(), 'state.db');
    const first = createSqliteStore({ path: file });
    await first.journal.save(new Map([['a', 1], ['b', 2]]));
    await first.journal.save(new Map([['b', 2], ['c', 3]]));
    await first.writeSetting('pools', 'one');
    await first.writeSetting('pools', 'two');
    await first.close();
    const second = createSqliteStore({ path: file });
    try {
      assert.deepEqual([...(await second.journal.load())].sort(), [['b', 2], ['c', 3]]);
      assert.equal(await second.readSetting('pools'), 'two');
      assert.equal(await second.readSetting('missing'), undefined);
    } finally {
      await second.close();
    }
  });

  test('the database, -wal and -shm are created 0600 whatever the umask, and wider files left by older builds are narrowed', async () => {
    const file = path.join(tempDir(), 'state.db');
    const oldMask = process.umask(0o022);
    try {
      const store = createSqliteStore({ path: file });
      assert.equal(await store.reserve(record()), true);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
      await store.close();
      fs.writeFileSync(`${file}-wal`, '');
      for (const f of [file, `${file}-wal`]) fs.chmodSync(f, 0o644);
      const reopened = createSqliteStore({ path: file });
      for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(fs.statSync(f).mode & 0o777, 0o600, f);
      assert.equal((await reopened.list()).length, 1);
      await reopened.close();
    } finally {
      process.umask(oldMask);
    }
  });
});
