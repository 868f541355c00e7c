// The IPAM service when the pools change under it (a reloaded pools file) and
// when it restarts: held IPs keep their holders whatever happens to the pool
// they came from, and the collector's grace survives a restart.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPools, type Pool } from '../ipam/pool.ts';
import type { NetnsObservation } from '../ipam/netns-gc.ts';
import { createMemoryStore } from '../store/memory.ts';
import type { AllocationStore, ReclaimJournal } from '../store/port.ts';
import { createIpamService } from './ipam-service.ts';
import { createStandalonePolicy } from './policy.ts';

const pools = (...specs: Array<[string, Record<string, unknown>]>) =>
  planPools(specs.map(([name, spec]) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec })));

const POOL_B = pools(['pool-b', { subnet: '10.250.6.0/24', ips: ['10.250.6.10-10.250.6.19'] }]);
const POOL_C = pools(['pool-c', { subnet: '10.250.6.0/24', ips: ['10.250.6.10-10.250.6.19'] }]);

/** A service whose pools can be swapped like a reloaded pools file. */
function agent(initial: readonly Pool[], opts: { store?: AllocationStore; journal?: ReclaimJournal; now?: () => number; gone?: Set<string> } = {}) {
  let current = initial;
  const store = opts.store ?? createMemoryStore();
  // Every namespace exists until a test removes it.
  const gone = opts.gone ?? new Set<string>();
  const probe = (p: string): NetnsObservation => (gone.has(p) ? { exists: false } : { exists: true, id: `4:${p}`, isNamespace: true });
  const service = createIpamService({
    store,
    policy: createStandalonePolicy(() => current),
    node: 'n',
    now: opts.now ?? (() => 1_000),
    probeNetns: probe,
    gcGraceMs: 10_000,
    journal: opts.journal,
  });
  return {
    service,
    store,
    gone,
    swap(next: readonly Pool[]) {
      current = next;
    },
  };
}

const add = (id: string, pool: string) => ({ containerId: id, ifname: 'eth0', netns: `/run/netns/${id}`, ipv4Pools: [pool] });
const ipOf = (res: { ips: ReadonlyArray<{ address: string }> }) => res.ips[0]!.address.split('/')[0]!;

describe('a pool renamed with the same range', () => {
  test('keeps its allocations: reconcile re-files them, and new ADDs never get a held IP', async () => {
    const a = agent(POOL_B);
    const held = new Map<string, string>();
    for (const id of ['b1', 'b2', 'b3', 'b4', 'b5']) held.set(ipOf(await a.service.allocate(add(id, 'pool-b'))), id);
    a.swap(POOL_C);
    assert.deepEqual(await a.service.reconcile(), { moved: 5, orphaned: 0 });
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) {
      const ip = ipOf(await a.service.allocate(add(id, 'pool-c')));
      assert.equal(held.has(ip), false, `${ip} is held by ${held.get(ip)}`);
    }
    const status = await a.service.status();
    assert.deepEqual(status.pools.map((p) => [p.name, p.allocated, p.free]), [['pool-c', 10, '0']]);
    assert.deepEqual(status.orphaned, []);
    // The holders still release by their own attachment.
    assert.equal((await a.service.release({ containerId: 'b3', ifname: 'eth0' })).released[0]?.pool, 'pool-c');
  });

  test('without reconcile the store still never hands out a held IP (an address is held once)', async () => {
    const a = agent(POOL_B);
    const held = new Set<string>();
    for (const id of ['b1', 'b2', 'b3']) held.add(ipOf(await a.service.allocate(add(id, 'pool-b'))));
    a.swap(POOL_C);
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']) assert.equal(held.has(ipOf(await a.service.allocate(add(id, 'pool-c')))), false);
    await assert.rejects(a.service.allocate(add('c8', 'pool-c')), { code: 'POOL_EXHAUSTED' });
    assert.equal((await a.store.list()).length, 10);
  });
});

describe('orphans: held IPs that no pool holds any more', () => {
  test('a shrunk pool counts only what it holds (never more than 100%); the rest are orphans, listed and released as usual', async () => {
    const wide = pools(['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.19'] }]);
    const a = agent(wide);
    for (let i = 0; i < 8; i++) await a.service.allocate(add(`p${i}`, 'lan'));
    a.swap(pools(['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.12'] }]));
    assert.deepEqual(await a.service.reconcile(), { moved: 0, orphaned: 5 });
    const status = await a.service.status();
    assert.deepEqual(status.pools.map((p) => [p.name, p.total, p.allocated, p.free]), [['lan', '3', 3, '0']]);
    assert.deepEqual(status.orphaned, [{ pool: 'lan', reason: 'outside-pool', ips: ['10.0.0.13', '10.0.0.14', '10.0.0.15', '10.0.0.16', '10.0.0.17'] }]);
    const views = await a.service.allocations();
    assert.deepEqual(views.filter((v) => v.orphaned).map((v) => v.ip), ['10.0.0.13', '10.0.0.14', '10.0.0.15', '10.0.0.16', '10.0.0.17']);
    assert.equal(views.find((v) => v.ip === '10.0.0.10')?.orphaned, undefined);
    // DEL frees an orphan; the collector frees one whose namespace is gone.
    assert.deepEqual((await a.service.release({ containerId: 'p3', ifname: 'eth0' })).released.map((r) => r.ip), ['10.0.0.13']);
    for (let i = 0; i < 8; i++) a.gone.add(`/run/netns/p${i}`);
    assert.deepEqual((await a.service.collect(0)).released.map((r) => r.ip).sort(), ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.0.14', '10.0.0.15', '10.0.0.16', '10.0.0.17']);
    assert.deepEqual((await a.service.status()).orphaned, []);
  });

  test('records of a removed pool are orphans with their reason, and their IPs stay out of every pool that later covers them', async () => {
    const a = agent(pools(['old', { subnet: '10.9.0.0/24', ips: ['10.9.0.10-10.9.0.11'] }], ['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10'] }]));
    const heldIp = ipOf(await a.service.allocate(add('o1', 'old')));
    a.swap(pools(['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10'] }]));
    await a.service.reconcile();
    assert.deepEqual((await a.service.status()).orphaned, [{ pool: 'old', reason: 'pool-removed', ips: [heldIp] }]);
    // A new pool over the same range takes the orphan over on the next reconcile.
    a.swap(pools(['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10'] }], ['new', { subnet: '10.9.0.0/24', ips: ['10.9.0.10'] }]));
    assert.deepEqual(await a.service.reconcile(), { moved: 1, orphaned: 0 });
    await assert.rejects(a.service.allocate(add('n1', 'new')), { code: 'POOL_EXHAUSTED' });
  });
});

describe('restart-safe reclaim', () => {
  /** A journal that outlives the services built on it, like the state file. */
  function durableJournal(): ReclaimJournal & { saves: number } {
    let kept: ReadonlyMap<string, number> = new Map();
    const j = {
      saves: 0,
      load: async () => new Map(kept),
      save: async (m: ReadonlyMap<string, number>) => {
        kept = new Map(m);
        j.saves++;
      },
    };
    return j;
  }

  test('a namespace first seen gone before a restart is reclaimed when the grace counted from that sighting ends', async () => {
    let clock = 100_000;
    const store = createMemoryStore();
    const journal = durableJournal();
    const gone = new Set<string>();
    const first = agent(POOL_B, { store, journal, now: () => clock, gone });
    const ip = ipOf(await first.service.allocate(add('leaky', 'pool-b')));
    gone.add('/run/netns/leaky');
    assert.deepEqual((await first.service.collect()).waiting.map((w) => w.goneSinceMs), [100_000]);
    // The agent dies and comes back 9 s later, with its state file.
    clock += 9_000;
    const second = agent(POOL_B, { store, journal, now: () => clock, gone });
    assert.deepEqual((await second.service.collect()).released, [], 'still inside the grace counted from the first sighting');
    clock += 1_000;
    assert.deepEqual((await second.service.collect()).released.map((r) => r.ip), [ip], 'reclaimed 10 s after the first sighting, not 10 s after the restart');
    assert.deepEqual([...(await journal.load())], [], 'a reclaimed record leaves the journal');
  });

  test('the journal is written only when a sighting starts or ends, not on every collection', async () => {
    let clock = 0;
    const journal = durableJournal();
    const a = agent(POOL_B, { journal, now: () => clock });
    await a.service.allocate(add('x', 'pool-b'));
    await a.service.collect();
    await a.service.collect();
    assert.equal(journal.saves, 0);
    a.gone.add('/run/netns/x');
    for (let i = 0; i < 3; i++) {
      clock += 1_000;
      await a.service.collect();
    }
    assert.equal(journal.saves, 1);
    clock += 10_000;
    await a.service.collect();
    assert.equal(journal.saves, 2);
  });

  test('a dry run reads the journal and writes nothing', async () => {
    const journal = durableJournal();
    const a = agent(POOL_B, { journal });
    await a.service.allocate(add('x', 'pool-b'));
    a.gone.add('/run/netns/x');
    assert.equal((await a.service.collect(undefined, true)).waiting.length, 1);
    assert.equal(journal.saves, 0);
  });
});
