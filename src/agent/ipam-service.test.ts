import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPools } from '../ipam/pool.ts';
import { TidepoolError, type ErrorCode } from '../ipam/errors.ts';
import type { NetnsObservation } from '../ipam/netns-gc.ts';
import { createMemoryStore } from '../store/memory.ts';
import type { AllocationRecord, AllocationStore } from '../store/port.ts';
import type { AllocateRequest, AllocateResponse } from '../api/protocol.ts';
import { createManualClock } from '../controller/clock.ts';
import { createIpamService, EXHAUSTED_POLL_MS, type IpamServiceDeps } from './ipam-service.ts';
import { noMetrics } from './metrics.ts';
import { createStandalonePolicy, type IpamPolicy } from './policy.ts';

const pool = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec });

const POOLS = planPools([
  pool('v4', { subnet: '10.1.0.0/24', ips: ['10.1.0.10-10.1.0.13'], gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] }),
  pool('v4b', { subnet: '10.2.0.0/24', ips: ['10.2.0.10-10.2.0.11'], default: true }),
  pool('v6', { subnet: 'fd00:1::/64', ips: ['fd00:1::10-fd00:1::11'], gateway: 'fd00:1::1' }),
  pool('v6tiny', { subnet: 'fd00:2::/64', ips: ['fd00:2::10'] }),
  pool('off', { subnet: '10.3.0.0/24', ips: ['10.3.0.10'], disable: true }),
]);

function setup(over: Partial<IpamServiceDeps> = {}) {
  let clock = 1_000_000;
  const netns = new Map<string, NetnsObservation>();
  const store: AllocationStore = over.store ?? createMemoryStore();
  const service = createIpamService({
    store,
    pools: POOLS,
    node: 'node-a',
    now: () => clock,
    // Every /run/netns/<name> is a live namespace until a test says otherwise: ADD refuses paths that are not one.
    probeNetns: (p) => netns.get(p) ?? (p.startsWith('/run/netns/') ? { exists: true, id: `4:${p}`, isNamespace: true } : { exists: false }),
    gcGraceMs: 10_000,
    ...over,
  });
  return {
    service,
    store,
    netns,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

const add = (containerId: string, extra: Partial<AllocateRequest> = {}): AllocateRequest => ({ containerId, ifname: 'eth0', netns: `/run/netns/${containerId}`, ipv4Pools: ['v4'], ...extra });

async function rejects(p: Promise<unknown>, code: ErrorCode, message?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TidepoolError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('allocate', () => {
  test('returns the lowest never-used IP with the pool prefix, gateway and routes', async () => {
    const { service } = setup();
    const res = await service.allocate(add('c1'));
    assert.deepEqual(res, { ips: [{ address: '10.1.0.10/24', family: 4, gateway: '10.1.0.1', pool: 'v4' }], routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] });
  });

  test('a repeated ADD for the same container and interface returns the IP it holds', async () => {
    const { service, store } = setup();
    const first = await service.allocate(add('c1'));
    const again = await service.allocate(add('c1'));
    assert.deepEqual(again, first);
    assert.equal((await store.list()).length, 1);
  });

  test('another interface of the same container gets its own IP', async () => {
    const { service } = setup();
    const a = await service.allocate(add('c1'));
    const b = await service.allocate(add('c1', { ifname: 'net1' }));
    assert.notEqual(a.ips[0]!.address, b.ips[0]!.address);
  });

  test('dual-stack: one IP of each family', async () => {
    const { service } = setup();
    const res = await service.allocate(add('c1', { ipv6Pools: ['v6'] }));
    assert.deepEqual(res.ips.map((i) => i.address), ['10.1.0.10/24', 'fd00:1::10/64']);
  });

  test('dual-stack is all or nothing: an exhausted IPv6 pool gives back the IPv4 just taken', async () => {
    const { service, store } = setup();
    await service.allocate(add('c0', { ipv4Pools: ['v4b'], ipv6Pools: ['v6tiny'] }));
    await rejects(service.allocate(add('c1', { ipv6Pools: ['v6tiny'] })), 'POOL_EXHAUSTED', /no free IPv6 address in pool "v6tiny"/);
    assert.deepEqual((await store.list({ containerId: 'c1' })).length, 0);
    // The rolled-back IPv4 stays usable (and the release is remembered for reuse ordering).
    assert.deepEqual((await store.usage('v4')).released.map(([ip]) => ip), ['10.1.0.10']);
  });

  test('a retry after a partial failure reuses the IP the attachment already holds', async () => {
    const { service, store } = setup();
    await store.reserve({ pool: 'v4', ip: '10.1.0.12', containerId: 'c1', ifname: 'eth0', netns: '', node: 'node-a', allocatedAt: 1 });
    const res = await service.allocate(add('c1', { ipv6Pools: ['v6'] }));
    assert.deepEqual(res.ips.map((i) => i.address), ['10.1.0.12/24', 'fd00:1::10/64']);
    assert.equal((await store.list({ containerId: 'c1' })).length, 2);
  });

  test('falls through to the next listed pool when the first is full, and names every pool when all are', async () => {
    const { service } = setup();
    for (let i = 0; i < 4; i++) await service.allocate(add(`a${i}`, { ipv4Pools: ['v4', 'v4b'] }));
    const fifth = await service.allocate(add('a4', { ipv4Pools: ['v4', 'v4b'] }));
    assert.equal(fifth.ips[0]!.pool, 'v4b');
    await service.allocate(add('a5', { ipv4Pools: ['v4', 'v4b'] }));
    await rejects(service.allocate(add('a6', { ipv4Pools: ['v4', 'v4b'] })), 'POOL_EXHAUSTED', /pools "v4", "v4b"/);
  });

  const bad: Array<[string, Partial<AllocateRequest>, ErrorCode, RegExp]> = [
    ['unknown pool', { ipv4Pools: ['nope'] }, 'POOL_NOT_FOUND', /ipv4Pools\[0\]: pool "nope" does not exist/],
    ['IPv6 pool listed as IPv4', { ipv4Pools: ['v6'] }, 'POOL_FAMILY_MISMATCH', /ipv4Pools\[0\]: pool "v6" is IPv6, not IPv4/],
    ['IPv4 pool listed as IPv6', { ipv4Pools: [], ipv6Pools: ['v4'] }, 'POOL_FAMILY_MISMATCH', /ipv6Pools\[0\]: pool "v4" is IPv4/],
    ['only disabled pools', { ipv4Pools: ['off'] }, 'POOL_DISABLED', /every listed pool is disabled \(off\)/],
  ];
  for (const [name, extra, code, msg] of bad) {
    test(`refuses ${name} and stores nothing`, async () => {
      const { service, store } = setup();
      await rejects(service.allocate(add('c1', extra)), code, msg);
      assert.equal((await store.list()).length, 0);
    });
  }

  test('without pools in the request, default pools serve; without defaults, NO_POOL', async () => {
    const { service } = setup();
    const res = await service.allocate(add('c1', { ipv4Pools: undefined }));
    assert.equal(res.ips[0]!.pool, 'v4b');
    const bare = createIpamService({ store: createMemoryStore(), pools: POOLS.filter((p) => !p.isDefault), node: 'n', now: () => 0, probeNetns: () => ({ exists: true }) });
    await rejects(bare.allocate(add('c1', { ipv4Pools: undefined })), 'NO_POOL');
  });

  test('a just-released IP is not handed out again while others are free', async () => {
    const { service, advance } = setup();
    await service.allocate(add('c1'));
    await service.allocate(add('c2'));
    advance(1);
    await service.release({ containerId: 'c1', ifname: 'eth0' });
    const next = await service.allocate(add('c3'));
    assert.equal(next.ips[0]!.address, '10.1.0.12/24');
  });

  test('100 concurrent ADDs in a pool of 4 IPs: 4 distinct winners, 96 POOL_EXHAUSTED', async () => {
    const { service, store } = setup();
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => service.allocate(add(`c${i}`))));
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<AllocateResponse>).value.ips[0]!.address);
    assert.equal(new Set(ok).size, 4);
    assert.equal(ok.length, 4);
    assert.equal((await store.list()).length, 4);
  });

  for (const usageCacheMs of [0, Number.POSITIVE_INFINITY]) {
    test(`two agents sharing one store never hand out the same IP (usage cache ${usageCacheMs} ms)`, async () => {
      const store = createMemoryStore();
      const a = setup({ store, usageCacheMs }).service;
      const b = setup({ store, usageCacheMs }).service;
      // Warm both caches, then let them go stale against each other.
      await a.status();
      await b.status();
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).allocate(add(`c${i}`, { ipv4Pools: ['v4', 'v4b'] }))));
      const ips = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.ips.map((x) => x.address) : []));
      assert.equal(ips.length, 6);
      assert.equal(new Set(ips).size, 6);
      await a.release({ containerId: 'c1', ifname: 'eth0' });
      const again = await b.allocate(add('c9', { ipv4Pools: ['v4', 'v4b'] }));
      assert.ok(!ips.filter((ip) => ip !== again.ips[0]!.address).includes(again.ips[0]!.address), 'never an IP someone holds');
    });
  }

  test('with a usage cache, a just-released IP is still not reused while others are free', async () => {
    const { service, advance } = setup({ usageCacheMs: Number.POSITIVE_INFINITY });
    await service.allocate(add('c1'));
    await service.allocate(add('c2'));
    advance(1);
    await service.release({ containerId: 'c1', ifname: 'eth0' });
    assert.equal((await service.allocate(add('c3'))).ips[0]!.address, '10.1.0.12/24');
    assert.equal((await service.allocate(add('c4'))).ips[0]!.address, '10.1.0.13/24');
    assert.equal((await service.allocate(add('c5'))).ips[0]!.address, '10.1.0.10/24', 'the released one, once nothing else is free');
  });
});

describe('release, check and CNI GC', () => {
  test('release frees the IPs; repeating it is harmless', async () => {
    const { service, store } = setup();
    await service.allocate(add('c1', { ipv6Pools: ['v6'] }));
    const first = await service.release({ containerId: 'c1', ifname: 'eth0' });
    assert.deepEqual(first.released.map((r) => r.ip).sort(), ['10.1.0.10', 'fd00:1::10']);
    assert.deepEqual(await service.release({ containerId: 'c1', ifname: 'eth0' }), { released: [] });
    assert.equal((await store.list()).length, 0);
  });

  test('check returns the held IPs, or UNKNOWN_CONTAINER', async () => {
    const { service } = setup();
    const res = await service.allocate(add('c1'));
    assert.deepEqual(await service.check({ containerId: 'c1', ifname: 'eth0' }), res);
    await rejects(service.check({ containerId: 'c1', ifname: 'eth1' }), 'UNKNOWN_CONTAINER', /container c1 interface eth1/);
  });

  test('gc releases every allocation of this node and network that is not a valid attachment, and nothing else', async () => {
    const { service, store } = setup();
    await service.allocate(add('keep', { network: 'lan' }));
    await service.allocate(add('drop', { network: 'lan' }));
    await service.allocate(add('other-net', { network: 'storage' }));
    await store.reserve({ pool: 'v4b', ip: '10.2.0.10', containerId: 'other-node', ifname: 'eth0', netns: '', node: 'node-b', network: 'lan', allocatedAt: 1 });
    const res = await service.gc({ network: 'lan', validAttachments: [{ containerId: 'keep', ifname: 'eth0' }] });
    assert.deepEqual(res.released.map((r) => [r.containerId, r.reason]), [['drop', 'cni-gc']]);
    assert.deepEqual((await store.list()).map((r) => r.containerId).sort(), ['keep', 'other-net', 'other-node']);
  });
});

describe('the netns of an ADD', () => {
  const refused: Array<[string, NetnsObservation | undefined, RegExp]> = [
    ['/nonexistent/c1', undefined, /^netns: \/nonexistent\/c1 does not exist$/],
    ['/etc/passwd', { exists: true, id: '8:1', isNamespace: false }, /^netns: \/etc\/passwd is not a network namespace$/],
  ];
  for (const [path, seen, message] of refused) {
    test(`${path} is refused with INVALID_REQUEST naming the field and path, and nothing is stored`, async () => {
      const { service, store, netns } = setup();
      if (seen) netns.set(path, seen);
      await rejects(service.allocate(add('c1', { netns: path, ipv6Pools: ['v6'] })), 'INVALID_REQUEST', message);
      assert.deepEqual(await store.list(), []);
      assert.deepEqual((await store.usage('v4')).released, [], 'not even taken and rolled back');
    });
  }

  test('a namespace that cannot be looked at (EACCES) is accepted, as the collector counts it present', async () => {
    const { service, store, netns } = setup();
    netns.set('/proc/1/ns/net', { exists: true });
    await service.allocate(add('c1', { netns: '/proc/1/ns/net' }));
    assert.equal((await store.list()).length, 1);
  });

  test('an ADD without a netns path (the agent API allows it) is not probed', async () => {
    const { service, store } = setup({ probeNetns: () => assert.fail('probed') });
    await service.allocate(add('c1', { netns: '' }));
    assert.equal((await store.list()).length, 1);
  });
});

describe('netns garbage collection', () => {
  test('an IP whose namespace is gone is reclaimed once the grace period has passed', async () => {
    const { service, store, netns, advance } = setup();
    netns.set('/run/netns/c1', { exists: true, id: '4:100' });
    netns.set('/run/netns/c2', { exists: true, id: '4:101' });
    await service.allocate(add('c1'));
    await service.allocate(add('c2'));
    netns.set('/run/netns/c1', { exists: false });
    const first = await service.collect();
    assert.deepEqual(first.released, []);
    assert.deepEqual(first.waiting.map((w) => w.containerId), ['c1']);
    advance(9_999);
    assert.deepEqual((await service.collect()).released, []);
    advance(1);
    const done = await service.collect();
    assert.deepEqual(done.released.map((r) => [r.containerId, r.reason]), [['c1', 'netns-gc']]);
    assert.deepEqual((await store.list()).map((r) => r.containerId), ['c2']);
  });

  test('a dry run reports what would be reclaimed, releases nothing and starts no grace timer', async () => {
    const { service, store, netns, advance } = setup();
    await service.allocate(add('c1'));
    netns.set('/run/netns/c1', { exists: false });
    const dry = await service.collect(0, true);
    assert.deepEqual(dry.released.map((r) => r.containerId), ['c1']);
    assert.equal((await store.list()).length, 1, 'nothing released');
    assert.deepEqual((await service.collect(undefined, true)).waiting.map((w) => w.containerId), ['c1']);
    advance(60_000);
    assert.deepEqual((await service.collect()).released, [], 'the dry runs did not start the grace period');
  });

  test('a collection in progress when the agent stops releases nothing more', async () => {
    const base = createMemoryStore();
    let releases = 0;
    let service: ReturnType<typeof createIpamService> | undefined;
    const store: AllocationStore = {
      ...base,
      async release(...args) {
        // The stop arrives while the first release is being written.
        if (++releases === 1) service!.shutdown();
        return base.release(...args);
      },
    };
    const t = setup({ store });
    service = t.service;
    for (const c of ['c1', 'c2', 'c3']) await service.allocate(add(c));
    for (const c of ['c1', 'c2', 'c3']) t.netns.set(`/run/netns/${c}`, { exists: false });
    const res = await service.collect(0);
    assert.deepEqual(res.released.map((r) => r.containerId), ['c1']);
    assert.deepEqual((await base.list()).map((r) => r.containerId).sort(), ['c2', 'c3']);
  });

  test('a namespace path reused by a new namespace counts as gone', async () => {
    const { service, netns } = setup();
    netns.set('/run/netns/c1', { exists: true, id: '4:100' });
    await service.allocate(add('c1'));
    netns.set('/run/netns/c1', { exists: true, id: '4:999' });
    const res = await service.collect(0);
    assert.deepEqual(res.released.map((r) => r.containerId), ['c1']);
  });
});

describe('releaseIp', () => {
  test('refuses while the namespace exists, releases with force, and NOT_FOUND when free', async () => {
    const { service, netns } = setup();
    netns.set('/run/netns/c1', { exists: true, id: '4:1' });
    await service.allocate(add('c1'));
    await rejects(service.releaseIp('10.1.0.10', false), 'NETNS_IN_USE', /namespace \/run\/netns\/c1 still exists/);
    const res = await service.releaseIp('10.1.0.10', true);
    assert.deepEqual(res.released.map((r) => [r.ip, r.reason]), [['10.1.0.10', 'manual']]);
    await rejects(service.releaseIp('10.1.0.10', true), 'NOT_FOUND');
    await rejects(service.releaseIp('10.1.0.300', true), 'INVALID_REQUEST', /ip: "10.1.0.300" is not an IP address/);
  });

  test('accepts any spelling of an IPv6 address', async () => {
    const { service, netns } = setup();
    await service.allocate(add('c1', { ipv4Pools: [], ipv6Pools: ['v6'] }));
    netns.set('/run/netns/c1', { exists: false });
    const res = await service.releaseIp('FD00:0001:0:0::10', false);
    assert.deepEqual(res.released.map((r) => r.ip), ['fd00:1::10']);
  });
});

describe('status', () => {
  test('counts total, allocated and free per pool', async () => {
    const { service } = setup();
    await service.allocate(add('c1'));
    const { pools } = await service.status({ ipv4Pools: ['v4'] });
    assert.deepEqual(pools, [{ name: 'v4', family: 4, subnet: '10.1.0.0/24', total: '4', allocated: 1, free: '3', disabled: false, default: false }]);
  });
});

describe('stable identities with a lagging cache', () => {
  // A policy that plans like the standalone one but names the pod and its StatefulSet ordinal, as KubePolicy does.
  const statefulPolicy = (base: ReturnType<typeof createStandalonePolicy>): IpamPolicy => ({
    ...base,
    async plan(req) {
      return { ...(await base.plan(req)), podUid: req.pod?.uid, stableKey: req.pod ? `sts:${req.pod.namespace}/db/0` : undefined };
    },
  });

  test("a new pod of the ordinal takes over its IP even when the cache has not seen the earlier incarnation's record", async () => {
    const truth = createMemoryStore();
    let lagging = false;
    let freshReads = 0;
    const store: AllocationStore = {
      ...truth,
      reserve: (r) => truth.reserve(r),
      release: (...a) => truth.release(...a),
      transfer: (...a) => truth.transfer(...a),
      usage: (p) => truth.usage(p),
      close: () => truth.close(),
      // The cache: blind to stable identities while it lags.
      list: async (filter) => (lagging && filter?.stableKey ? [] : truth.list(filter)),
      async listStable(key) {
        freshReads++;
        return truth.list({ stableKey: key });
      },
    };
    const { service } = setup({ store, policy: statefulPolicy(createStandalonePolicy(POOLS)) });
    const first = await service.allocate(add('c1', { pod: { namespace: 'default', name: 'db-0', uid: 'uid-1' } }));
    assert.equal(freshReads, 1, 'the first ADD of an ordinal finds nothing in the cache and asks');
    lagging = true;
    const second = await service.allocate(add('c2', { pod: { namespace: 'default', name: 'db-0', uid: 'uid-2' } }));
    assert.deepEqual(second.ips, first.ips, 'the same IP, not a second one');
    assert.equal(freshReads, 2);
    assertRecordsHeldBy(await truth.list(), [['10.1.0.10', 'uid-2']]);
    // A retry of the same pod finds its own record by pod UID: no fresh read.
    await service.allocate(add('c2', { pod: { namespace: 'default', name: 'db-0', uid: 'uid-2' } }));
    assert.equal(freshReads, 2);
  });
});

function assertRecordsHeldBy(records: readonly AllocationRecord[], expected: Array<[string, string]>): void {
  assert.deepEqual(records.map((r) => [r.ip, r.podUid]), expected);
}

describe('waiting for a free IP when the pools are full', () => {
  /** Pool v4 (4 IPs) full, a service that waits up to 3 s, on a manual clock. */
  async function full(store: AllocationStore = createMemoryStore()) {
    const clock = createManualClock(1_000_000);
    const waits: Array<[string, number]> = [];
    const metrics = { ...noMetrics, exhaustedWait: (outcome: string, seconds: number) => void waits.push([outcome, seconds]) };
    const { service } = setup({ store, now: clock.now, sleep: clock.sleep, exhaustedWaitMs: 3_000, metrics });
    for (const c of ['c1', 'c2', 'c3', 'c4']) await service.allocate(add(c));
    let outcome: AllocateResponse | Error | undefined;
    const pending = service.allocate(add('c5')).then(
      (r) => (outcome = r),
      (e: Error) => (outcome = e),
    );
    await clock.advance(0);
    return { clock, service, store, pending, waits, outcome: () => outcome };
  }

  test('a DEL during the wait hands its IP to the waiting ADD at once, without waiting for a re-read', async () => {
    const { clock, service, pending, waits, outcome } = await full();
    await clock.advance(200);
    assert.equal(outcome(), undefined, 'still waiting: nothing was freed');
    await service.release({ containerId: 'c2', ifname: 'eth0' });
    await clock.advance(0);
    assert.deepEqual((outcome() as AllocateResponse).ips.map((i) => i.address), ['10.1.0.11/24'], "c2's IP, handed on with no time passing");
    await pending;
    assert.deepEqual(waits, [['allocated', 0.2]]);
  });

  test('nothing freed: POOL_EXHAUSTED after the wait, and the message says how long it waited', async () => {
    const { clock, pending, waits, outcome } = await full();
    await clock.advance(2_900);
    assert.equal(outcome(), undefined, 'waits the whole 3 s');
    await clock.advance(100);
    await pending;
    const err = outcome();
    assert.ok(err instanceof TidepoolError && err.code === 'POOL_EXHAUSTED', String(err));
    assert.match(err.message, /no free IPv4 address in pool "v4" \(waited 3\.0 s for one to come free\)/);
    assert.deepEqual(waits, [['exhausted', 3]]);
  });

  test("another writer's release reaches the wait through the store's onFree", async () => {
    const base = createMemoryStore();
    const listeners: Array<(pool: string) => void> = [];
    const store: AllocationStore = {
      ...base,
      onFree: (l) => void listeners.push(l),
      async release(...args) {
        const ok = await base.release(...args);
        if (ok) for (const l of listeners) l(args[0]);
        return ok;
      },
    };
    const { clock, pending, outcome } = await full(store);
    // The controller's reclaim, say: written to the store, not through this agent.
    const [c3] = await base.list({ containerId: 'c3' });
    assert.ok(await store.release(c3!.pool, c3!.ip, { containerId: 'c3', ifname: 'eth0' }, clock.now()));
    await clock.advance(0);
    assert.deepEqual((outcome() as AllocateResponse).ips.map((i) => i.address), ['10.1.0.12/24']);
    await pending;
  });

  test('a store that cannot tell is re-read every EXHAUSTED_POLL_MS while waiting', async () => {
    const { clock, store, pending, outcome } = await full();
    const [c4] = await store.list({ containerId: 'c4' });
    assert.ok(await store.release(c4!.pool, c4!.ip, { containerId: 'c4', ifname: 'eth0' }, clock.now()));
    await clock.advance(EXHAUSTED_POLL_MS - 1);
    assert.equal(outcome(), undefined, 'not re-read yet');
    await clock.advance(1);
    assert.deepEqual((outcome() as AllocateResponse).ips.map((i) => i.address), ['10.1.0.13/24']);
    await pending;
  });

  test('shutdown: the waiting ADD fails at once with AGENT_STOPPING, and later ones do not wait', async () => {
    const { clock, service, store, pending, waits, outcome } = await full();
    await clock.advance(200);
    service.shutdown();
    await clock.advance(0);
    const err = outcome();
    assert.ok(err instanceof TidepoolError && err.code === 'AGENT_STOPPING', String(err));
    assert.match(err.message, /^the tidepool agent is stopping: no free IPv4 address in pool "v4" and it cannot wait for one to come free; try again$/);
    await pending;
    await rejects(service.allocate(add('c6')), 'AGENT_STOPPING');
    assert.equal(clock.pending(), 0, 'no wait was started');
    assert.deepEqual(waits, [], 'a cut wait is neither allocated nor exhausted');
    // Everything else still works until the store closes: the requests in flight are answered.
    assert.equal((await service.release({ containerId: 'c1', ifname: 'eth0' })).released.length, 1);
    assert.equal((await service.allocate(add('c7'))).ips[0]!.address, '10.1.0.10/24');
    assert.equal((await store.list()).length, 4);
  });

  test('shutdown cuts the wait of a dual-stack ADD and gives back the IPv4 it took', async () => {
    const clock = createManualClock(1_000_000);
    const { service, store } = setup({ now: clock.now, sleep: clock.sleep, exhaustedWaitMs: 3_000 });
    await service.allocate(add('c0', { ipv4Pools: ['v4b'], ipv6Pools: ['v6tiny'] }));
    const pending = service.allocate(add('c1', { ipv6Pools: ['v6tiny'] }));
    await clock.advance(100);
    service.shutdown();
    await rejects(pending, 'AGENT_STOPPING', /IPv6 address in pool "v6tiny"/);
    assert.deepEqual(await store.list({ containerId: 'c1' }), []);
  });

  test('without a wait (the default), a full pool fails at once', async () => {
    const clock = createManualClock(1_000_000);
    const { service } = setup({ now: clock.now, sleep: clock.sleep });
    for (const c of ['c1', 'c2', 'c3', 'c4']) await service.allocate(add(c));
    await rejects(service.allocate(add('c5')), 'POOL_EXHAUSTED', /^no free IPv4 address in pool "v4"$/);
    assert.equal(clock.pending(), 0, 'no timer was started');
  });
});
