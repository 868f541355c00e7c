/**
 * The one behavioural contract of the store port. Every adapter (memory,
 * SQLite, later Kubernetes) runs it, so it checks only what
 * src/store/port.ts promises, never how an adapter keeps its data.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AddressScope, AllocationRecord, AllocationStore, OwnerRef } from './port.ts';

/** What `open` hands the contract: a fresh, empty store and a way to dispose of it (it may already be closed). */
export interface OpenedStore {
  readonly store: AllocationStore;
  readonly cleanup: () => Promise<void>;
}

const OPTIONAL_FIELDS = ['netnsId', 'network', 'podNamespace', 'podName', 'podUid', 'stableKey'] as const;
const REQUIRED_FIELDS = ['pool', 'ip', 'containerId', 'ifname', 'netns', 'node', 'allocatedAt'] as const;

/**
 * The port's fields only, with absent and `undefined` optional fields made
 * equal: adapters may return either, and both mean "not given".
 */
function fields(r: AllocationRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of REQUIRED_FIELDS) out[k] = r[k];
  for (const k of OPTIONAL_FIELDS) if (r[k] !== undefined) out[k] = r[k];
  return out;
}

function assertRecords(actual: readonly AllocationRecord[], expected: readonly AllocationRecord[], message?: string): void {
  assert.deepEqual(actual.map(fields), expected.map(fields), message);
}

function record(overrides: Partial<AllocationRecord> = {}): AllocationRecord {
  return {
    pool: 'pool-a',
    ip: '10.0.0.5',
    containerId: 'c-1',
    ifname: 'eth0',
    netns: '/var/run/netns/cni-1',
    node: 'node-1',
    allocatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

const ownerOf = (r: AllocationRecord): OwnerRef => ({ containerId: r.containerId, ifname: r.ifname, podUid: r.podUid });

const byIp = (a: readonly [string, number], b: readonly [string, number]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/** `usage(pool).released`, in IP order: the port does not fix its order. */
async function releasedOf(store: AllocationStore, pool: string): Promise<Array<[string, number]>> {
  const u = await store.usage(pool);
  return u.released.map(([ip, at]): [string, number] => [ip, at]).sort(byIp);
}

async function allocatedOf(store: AllocationStore, pool: string): Promise<string[]> {
  return [...(await store.usage(pool)).allocated].sort();
}

/**
 * Registers one `describe(name)` block of tests that any AllocationStore
 * adapter must pass. `open` is called once per test and must return an
 * empty store; `cleanup` runs after each test even when it failed, and must
 * tolerate a store that the test already closed. `scope` is the address
 * scope the adapter documents (see AddressScope); the store must declare the
 * same.
 */
export function runStoreContract(name: string, open: () => Promise<OpenedStore>, scope: AddressScope = 'store'): void {
  const withStore = (title: string, body: (store: AllocationStore) => Promise<void>): void => {
    test(title, async () => {
      const { store, cleanup } = await open();
      try {
        await body(store);
      } finally {
        await cleanup();
      }
    });
  };

  describe(name, () => {
    withStore('reserve of a free IP resolves true and list returns the record with every field', async (store) => {
      const full = record({ netnsId: '4:4026532281', network: 'underlay', podNamespace: 'default', podName: 'web-0', podUid: 'uid-1' });
      const bare = record({ ip: '10.0.0.6', containerId: 'c-2', netns: '' });
      assert.equal(await store.reserve(full), true);
      assert.equal(await store.reserve(bare), true);
      const listed = await store.list();
      assertRecords(listed, [full, bare]);
      const listedBare = listed[1];
      assert.ok(listedBare);
      for (const k of OPTIONAL_FIELDS) assert.equal(listedBare[k], undefined, `${k} must stay undefined`);
      assert.equal(listedBare.netns, '');
    });

    withStore('50 concurrent reserves of one IP: exactly one wins and list shows the winner', async (store) => {
      const contenders = Array.from({ length: 50 }, (_, i) => record({ containerId: `c-${i}`, allocatedAt: 1000 + i }));
      const results = await Promise.all(contenders.map((r) => store.reserve(r)));
      const winners = contenders.filter((_, i) => results[i] === true);
      assert.equal(winners.length, 1, `winners: ${winners.map((w) => w.containerId).join(', ')}`);
      assert.equal(results.filter((r) => r === false).length, 49);
      assertRecords(await store.list(), winners);
    });

    withStore('reserving a held IP again, even by its holder, resolves false and keeps the holder', async (store) => {
      const first = record();
      assert.equal(await store.reserve(first), true);
      assert.equal(await store.reserve(record({ allocatedAt: first.allocatedAt + 1, node: 'node-2' })), false);
      assertRecords(await store.list(), [first]);
    });

    withStore(`the same IP in two pools is held once per ${scope}, as the store declares`, async (store) => {
      assert.equal(store.addressScope, scope);
      const a = record({ pool: 'pool-a' });
      const b = record({ pool: 'pool-b', containerId: 'c-2' });
      assert.equal(await store.reserve(a), true);
      if (scope === 'store') {
        assert.equal(await store.reserve(b), false, 'an address held under pool-a cannot be handed out under pool-b');
        assertRecords(await store.list(), [a]);
        assert.deepEqual(await allocatedOf(store, 'pool-b'), []);
        assert.equal(await store.release('pool-a', a.ip, ownerOf(a), 5), true);
        assert.equal(await store.reserve(b), true, 'once released, any pool may hand it out');
        assertRecords(await store.list(), [b]);
        return;
      }
      assert.equal(await store.reserve(b), true);
      assert.equal(await store.release('pool-b', b.ip, ownerOf(a), 5), false, "pool-a's holder cannot free pool-b");
      assert.equal(await store.release('pool-a', a.ip, ownerOf(a), 5), true);
      assertRecords(await store.list(), [b]);
      assert.deepEqual(await allocatedOf(store, 'pool-a'), []);
      assert.deepEqual(await allocatedOf(store, 'pool-b'), [b.ip]);
      assert.deepEqual(await releasedOf(store, 'pool-b'), []);
      assert.deepEqual(await releasedOf(store, 'pool-a'), [[a.ip, 5]]);
    });

    if (scope === 'store') withStore('concurrent reserves of one IP under different pools have one winner', async (store) => {
      const results = await Promise.all(['pool-a', 'pool-b', 'pool-c', 'pool-a'].map((pool, i) => store.reserve(record({ pool, containerId: `c-${i}` }))));
      assert.equal(results.filter((r) => r).length, 1);
      assert.equal((await store.list()).length, 1);
    });

    if (scope === 'store') withStore('adopt re-files held IPs under another pool, keeping the owner, and skips what is not held', async (store) => {
      assert.ok(store.adopt, 'a store whose address scope is "store" implements adopt');
      const held = record({ pool: 'old', ip: '10.0.0.7', podUid: 'u-7' });
      const freed = record({ pool: 'old', ip: '10.0.0.8', containerId: 'c-8' });
      assert.equal(await store.reserve(held), true);
      assert.equal(await store.reserve(freed), true);
      assert.equal(await store.release('old', freed.ip, ownerOf(freed), 3), true);
      const moved = await store.adopt([
        { pool: 'old', ip: '10.0.0.7', to: 'new' },
        { pool: 'old', ip: '10.0.0.8', to: 'new' },
        { pool: 'gone', ip: '10.0.0.9', to: 'new' },
      ]);
      assert.equal(moved, 1);
      assertRecords(await store.list(), [{ ...held, pool: 'new' }]);
      assert.deepEqual(await allocatedOf(store, 'new'), ['10.0.0.7']);
      assert.deepEqual(await allocatedOf(store, 'old'), []);
      assert.equal(await store.release('new', held.ip, ownerOf(held), 9), true, 'the owner releases it under its new pool');
      assert.deepEqual(await releasedOf(store, 'new'), [['10.0.0.7', 9]]);
    });

    withStore('release by a wrong owner resolves false and leaves the holder in place', async (store) => {
      const held = record({ podUid: 'uid-1' });
      assert.equal(await store.reserve(held), true);
      const wrong: Array<[string, OwnerRef]> = [
        ['containerId', { containerId: 'c-other', ifname: 'eth0', podUid: 'uid-1' }],
        ['ifname', { containerId: 'c-1', ifname: 'net1', podUid: 'uid-1' }],
        ['podUid', { containerId: 'c-1', ifname: 'eth0', podUid: 'uid-other' }],
      ];
      for (const [field, owner] of wrong) {
        assert.equal(await store.release(held.pool, held.ip, owner, 7), false, `other ${field} must not free the IP`);
      }
      assertRecords(await store.list(), [held]);
      assert.deepEqual(await releasedOf(store, held.pool), []);
    });

    withStore('release by the owner frees the IP once and records releasedAt; a second release resolves false', async (store) => {
      const held = record({ podUid: 'uid-1' });
      assert.equal(await store.reserve(held), true);
      assert.equal(await store.release(held.pool, held.ip, ownerOf(held), 42), true);
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(await allocatedOf(store, held.pool), []);
      assert.deepEqual(await releasedOf(store, held.pool), [[held.ip, 42]]);
      assert.equal(await store.release(held.pool, held.ip, ownerOf(held), 43), false);
      assert.deepEqual(await releasedOf(store, held.pool), [[held.ip, 42]], 'a no-op release must not touch the release time');
    });

    withStore('an owner without podUid matches on containerId and ifname alone', async (store) => {
      const held = record({ podUid: 'uid-1' });
      assert.equal(await store.reserve(held), true);
      assert.equal(await store.release(held.pool, held.ip, { containerId: 'c-1', ifname: 'eth0' }, 9), true);
      assert.deepEqual(await store.list(), []);
    });

    withStore('an owner with podUid does not match a holder that has none', async (store) => {
      const held = record();
      assert.equal(await store.reserve(held), true);
      assert.equal(await store.release(held.pool, held.ip, { containerId: 'c-1', ifname: 'eth0', podUid: 'uid-1' }, 9), false);
      assertRecords(await store.list(), [held]);
    });

    withStore('a release of an IP that was never held resolves false and records nothing', async (store) => {
      assert.equal(await store.release('pool-a', '10.0.0.9', { containerId: 'c-1', ifname: 'eth0' }, 1), false);
      assert.deepEqual(await releasedOf(store, 'pool-a'), []);
    });

    withStore('a stale release by a previous holder does not free the new holder (ABA)', async (store) => {
      const old = record({ containerId: 'c-old', podUid: 'uid-old' });
      const fresh = record({ containerId: 'c-new', podUid: 'uid-new', allocatedAt: old.allocatedAt + 10 });
      assert.equal(await store.reserve(old), true);
      assert.equal(await store.release(old.pool, old.ip, ownerOf(old), 100), true);
      assert.equal(await store.reserve(fresh), true);
      assert.equal(await store.release(old.pool, old.ip, ownerOf(old), 200), false);
      assert.equal(await store.release(old.pool, old.ip, { containerId: 'c-old', ifname: 'eth0' }, 200), false);
      assertRecords(await store.list(), [fresh]);
      assert.deepEqual(await releasedOf(store, old.pool), []);
    });

    withStore('reserve removes the IP from released; a later release overwrites the release time', async (store) => {
      const first = record({ containerId: 'c-1' });
      const second = record({ containerId: 'c-2' });
      const other = record({ ip: '10.0.0.7', containerId: 'c-3' });
      assert.equal(await store.reserve(first), true);
      assert.equal(await store.reserve(other), true);
      assert.equal(await store.release(first.pool, first.ip, ownerOf(first), 100), true);
      assert.equal(await store.release(other.pool, other.ip, ownerOf(other), 150), true);
      assert.deepEqual(await releasedOf(store, first.pool), [
        [first.ip, 100],
        [other.ip, 150],
      ]);
      assert.equal(await store.reserve(second), true);
      assert.deepEqual(await releasedOf(store, first.pool), [[other.ip, 150]]);
      assert.deepEqual(await allocatedOf(store, first.pool), [first.ip]);
      assert.equal(await store.release(second.pool, second.ip, ownerOf(second), 300), true);
      assert.deepEqual(await releasedOf(store, first.pool), [
        [first.ip, 300],
        [other.ip, 150],
      ]);
    });

    withStore('concurrent releases of one IP by its owner: exactly one resolves true', async (store) => {
      const held = record();
      assert.equal(await store.reserve(held), true);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.release(held.pool, held.ip, ownerOf(held), 10 + i)));
      assert.equal(results.filter((r) => r).length, 1);
      const released = await releasedOf(store, held.pool);
      assert.equal(released.length, 1);
      assert.equal(released[0]?.[1], 10 + results.indexOf(true), 'the release time is the one of the release that freed the IP');
    });

    withStore('usage lists the held IPs of that pool only', async (store) => {
      for (const [pool, ip] of [
        ['pool-a', '10.0.0.2'],
        ['pool-a', '10.0.0.1'],
        ['pool-b', '10.0.0.3'],
      ] as const) {
        assert.equal(await store.reserve(record({ pool, ip, containerId: `c-${ip}` })), true);
      }
      assert.deepEqual(await allocatedOf(store, 'pool-a'), ['10.0.0.1', '10.0.0.2']);
      assert.deepEqual(await allocatedOf(store, 'pool-b'), ['10.0.0.3']);
      assert.deepEqual(await store.usage('pool-none'), { allocated: [], released: [] });
    });

    withStore('list orders by pool then IP text and filters on every given field', async (store) => {
      const recs = [
        record({ pool: 'pool-b', ip: '10.0.0.100', containerId: 'c-1', ifname: 'eth0', node: 'node-1' }),
        record({ pool: 'pool-a', ip: '10.0.0.9', containerId: 'c-1', ifname: 'net1', node: 'node-1' }),
        record({ pool: 'pool-a', ip: '10.0.0.10', containerId: 'c-2', ifname: 'eth0', node: 'node-2' }),
        record({ pool: 'pool-a', ip: 'fd00::1', containerId: 'c-1', ifname: 'eth0', node: 'node-2' }),
        record({ pool: 'pool-a', ip: '10.0.0.1', containerId: 'c-3', ifname: 'eth0', node: 'node-1' }),
      ] as const;
      for (const r of recs) assert.equal(await store.reserve(r), true);
      const [b1, a9, a10, a6, a1] = recs;
      // Text order: '10.0.0.10' sorts before '10.0.0.9'.
      assertRecords(await store.list(), [a1, a10, a9, a6, b1]);
      assertRecords(await store.list({}), [a1, a10, a9, a6, b1]);
      assertRecords(await store.list({ pool: 'pool-a' }), [a1, a10, a9, a6]);
      assertRecords(await store.list({ containerId: 'c-1' }), [a9, a6, b1]);
      assertRecords(await store.list({ containerId: 'c-1', ifname: 'eth0' }), [a6, b1]);
      assertRecords(await store.list({ ifname: 'net1' }), [a9]);
      assertRecords(await store.list({ node: 'node-2' }), [a10, a6]);
      assertRecords(await store.list({ pool: 'pool-a', containerId: 'c-1', ifname: 'eth0', node: 'node-2' }), [a6]);
      assertRecords(await store.list({ pool: 'pool-b', node: 'node-2' }), []);
      assertRecords(await store.list({ pool: 'pool-none' }), []);
    });

    withStore('200 concurrent reserves of distinct IPs all succeed', async (store) => {
      const recs = Array.from({ length: 200 }, (_, i) => record({ ip: `10.1.${i >> 8}.${i & 255}`, containerId: `c-${i}` }));
      const results = await Promise.all(recs.map((r) => store.reserve(r)));
      assert.deepEqual(results, recs.map(() => true));
      assert.equal((await store.list({ pool: 'pool-a' })).length, 200);
      assert.deepEqual(await allocatedOf(store, 'pool-a'), recs.map((r) => r.ip).sort());
    });

    withStore('after close every call rejects', async (store) => {
      assert.equal(await store.reserve(record()), true);
      await store.close();
      await assert.rejects(store.reserve(record({ ip: '10.0.0.6' })));
      await assert.rejects(store.release('pool-a', '10.0.0.5', { containerId: 'c-1', ifname: 'eth0' }, 1));
      await assert.rejects(store.list());
      await assert.rejects(store.usage('pool-a'));
      await assert.rejects(store.transfer({ containerId: 'c-1', ifname: 'eth0' }, record()));
    });

    withStore('a release may carry reusableAt; usage reports it until the IP is reserved again', async (store) => {
      assert.equal(await store.reserve(record()), true);
      assert.equal(await store.reserve(record({ ip: '10.0.0.6', containerId: 'c-2' })), true);
      assert.equal(await store.release('pool-a', '10.0.0.5', { containerId: 'c-1', ifname: 'eth0' }, 100, 5100), true);
      assert.equal(await store.release('pool-a', '10.0.0.6', { containerId: 'c-2', ifname: 'eth0' }, 200), true);
      const released = (await store.usage('pool-a')).released.map((e) => [...e]);
      assert.deepEqual(released.sort((a, b) => Number(a[1]) - Number(b[1])), [
        ['10.0.0.5', 100, 5100],
        ['10.0.0.6', 200],
      ]);
      assert.equal(await store.reserve(record({ containerId: 'c-3' })), true);
      assert.deepEqual((await store.usage('pool-a')).released.map((e) => [...e]), [['10.0.0.6', 200]]);
    });

    withStore('transfer by the holder hands the IP to the new owner; the IP stays allocated', async (store) => {
      const old = record({ podUid: 'uid-old', stableKey: 'sts:default/web/0' });
      assert.equal(await store.reserve(old), true);
      const fresh = record({ containerId: 'c-new', podUid: 'uid-new', node: 'node-2', netns: '/var/run/netns/cni-2', stableKey: 'sts:default/web/0', allocatedAt: old.allocatedAt + 5 });
      assert.equal(await store.transfer(ownerOf(old), fresh), true);
      assertRecords(await store.list(), [fresh]);
      assert.deepEqual(await allocatedOf(store, 'pool-a'), ['10.0.0.5']);
      assert.deepEqual(await releasedOf(store, 'pool-a'), []);
      assert.equal(await store.release('pool-a', '10.0.0.5', ownerOf(old), 9), false, 'the old owner holds nothing now');
      assertRecords(await store.list({ stableKey: 'sts:default/web/0' }), [fresh]);
      assertRecords(await store.list({ podUid: 'uid-new' }), [fresh]);
      assertRecords(await store.list({ podUid: 'uid-old' }), []);
    });

    withStore('a pod\'s IP handed to a hold keeps the hold (reason, MAC, end) through list, and frees like any record', async (store) => {
      const pod = record({ podUid: 'uid-1', podNamespace: 'default', podName: 'web' });
      assert.equal(await store.reserve(pod), true);
      const hold: AllocationRecord = {
        pool: 'pool-a',
        ip: '10.0.0.5',
        containerId: 'hold:ip-conflict',
        ifname: 'eth0',
        netns: '',
        node: 'node-1',
        allocatedAt: 1_700_000_000_123,
        hold: { reason: 'ip-conflict', mac: 'aa:bb:cc:dd:ee:ff', until: 1_700_000_600_123, detectedFor: 'default/web' },
      };
      assert.equal(await store.transfer(ownerOf(pod), hold), true);
      const [listed] = await store.list();
      assert.deepEqual(listed?.hold, hold.hold);
      assertRecords(await store.list({ podUid: 'uid-1' }), [], 'the hold names no pod');
      assert.deepEqual(await allocatedOf(store, 'pool-a'), ['10.0.0.5'], 'a held IP is not free');
      assert.equal(await store.release('pool-a', '10.0.0.5', { containerId: 'hold:ip-conflict', ifname: 'eth0' }, 9), true);
      assert.deepEqual(await allocatedOf(store, 'pool-a'), []);
    });

    withStore('transfer from a wrong owner, or of a free IP, resolves false and changes nothing', async (store) => {
      const held = record({ podUid: 'uid-1' });
      assert.equal(await store.reserve(held), true);
      const taker = record({ containerId: 'c-2', podUid: 'uid-2' });
      assert.equal(await store.transfer({ containerId: 'c-other', ifname: 'eth0' }, taker), false);
      assert.equal(await store.transfer({ containerId: 'c-1', ifname: 'eth0', podUid: 'uid-x' }, taker), false);
      assertRecords(await store.list(), [held]);
      assert.equal(await store.transfer(ownerOf(held), record({ ip: '10.0.0.99', containerId: 'c-2' })), false, 'free IP');
      assert.deepEqual(await allocatedOf(store, 'pool-a'), ['10.0.0.5']);
    });

    withStore('an owner naming a stable identity matches any holder of it on that interface, and nothing else', async (store) => {
      const key = 'sts:default/web/0';
      const first = record({ podUid: 'uid-1', stableKey: key });
      assert.equal(await store.reserve(first), true);
      // The IP moved on to a second incarnation that this caller has not seen.
      const second = record({ containerId: 'c-2', podUid: 'uid-2', stableKey: key });
      assert.equal(await store.transfer(ownerOf(first), second), true);
      const third = record({ containerId: 'c-3', podUid: 'uid-3', stableKey: key });
      assert.equal(await store.transfer(ownerOf(first), third), false, 'without the stable identity the stale owner matches nothing');
      assert.equal(await store.transfer({ ...ownerOf(first), stableKey: 'sts:default/web/1' }, third), false, 'another ordinal');
      assert.equal(await store.transfer({ ...ownerOf(first), ifname: 'net1', stableKey: key }, third), false, 'another interface');
      assertRecords(await store.list(), [second]);
      assert.equal(await store.transfer({ ...ownerOf(first), stableKey: key }, third), true);
      assertRecords(await store.list(), [third]);
      assert.equal(await store.release('pool-a', '10.0.0.5', { containerId: 'c-none', ifname: 'eth0', stableKey: key }, 9), true, 'release follows the same rule');
      assert.deepEqual(await allocatedOf(store, 'pool-a'), []);
    });

    withStore('20 concurrent transfers from one holder: exactly one wins', async (store) => {
      const held = record();
      assert.equal(await store.reserve(held), true);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.transfer(ownerOf(held), record({ containerId: `c-t${i}` }))));
      assert.equal(results.filter(Boolean).length, 1);
      const winner = results.indexOf(true);
      assertRecords(await store.list(), [record({ containerId: `c-t${winner}` })]);
    });

    withStore('random reserve/release sequences agree with a model of the port', async (store) => {
      // Each run uses its own pool and addresses so one store serves every run.
      let run = 0;
      const owners = ['a', 'b', 'c'] as const;
      const op = fc.record({
        kind: fc.constantFrom('reserve', 'release'),
        ip: fc.constantFrom('10.9.0.1', '10.9.0.2', '10.9.0.3'),
        owner: fc.constantFrom(...owners),
        withUid: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
          const at = (ip: string) => ip.replace('10.9.0.', `10.${9 + (run >> 8)}.${run & 255}.`);
          const pool = `model-${run++}`;
          const held = new Map<string, AllocationRecord>();
          const released = new Map<string, number>();
          let clock = 0;
          for (const o of ops) {
            clock++;
            const ip = at(o.ip);
            if (o.kind === 'reserve') {
              const r = record({ pool, ip, containerId: o.owner, podUid: o.withUid ? `uid-${o.owner}` : undefined, allocatedAt: clock });
              const expected = !held.has(ip);
              assert.equal(await store.reserve(r), expected);
              if (expected) {
                held.set(ip, r);
                released.delete(ip);
              }
            } else {
              const owner: OwnerRef = { containerId: o.owner, ifname: 'eth0', podUid: o.withUid ? `uid-${o.owner}` : undefined };
              const h = held.get(ip);
              const expected = h !== undefined && h.containerId === owner.containerId && (owner.podUid === undefined || h.podUid === owner.podUid);
              assert.equal(await store.release(pool, ip, owner, clock), expected);
              if (expected) {
                held.delete(ip);
                released.set(ip, clock);
              }
            }
          }
          const model = [...held.values()].sort((x, y) => (x.ip < y.ip ? -1 : 1));
          assertRecords(await store.list({ pool }), model);
          assert.deepEqual(await releasedOf(store, pool), [...released.entries()].sort(byIp));
        }),
        { numRuns: 60 },
      );
    });
  });
}
