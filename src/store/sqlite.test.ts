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
      assert.equal(raw.pragma('user_version', { simple: true }), 1);
      const tables = raw.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY name").all();
      assert.deepEqual(
        tables.map((t) => (t as { name: string }).name),
        ['allocations', 'allocations_attachment', 'releases', 'sqlite_autoindex_allocations_1', 'sqlite_autoindex_releases_1'],
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
    raw.pragma('user_version = 2');
    raw.close();
    assertStoreError(() => createSqliteStore({ path: file }), 'IO_FAILURE', file, /schema version 2, newer than the 1/);
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
