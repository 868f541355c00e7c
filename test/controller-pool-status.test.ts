// IPPool status counts as the leader writes them, in virtual time: the
// manual clock makes the one-write-per-second debounce exact, and waiting
// on the reconciler's own cache (not on sleeps) keeps it exact on a slow
// machine too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeRest, type KubeRest } from '../src/k8s/rest.ts';
import { createControllerCache, type ControllerCache } from '../src/controller/cache.ts';
import { createManualClock, type ManualClock } from '../src/controller/clock.ts';
import { createPoolStatusReconciler } from '../src/controller/pool-status.ts';
import { noControllerMetrics } from '../src/controller/metrics.ts';
import { createLogger } from '../src/util/logger.ts';
import { createFakeApiServer, type FakeApiServer } from './apiserver/server.ts';
import { applyChartRbac, chartDenials, serviceAccountKubeconfig, type ChartIdentities } from './helpers/chart-rbac.ts';

const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';
const ALLOCS = '/apis/tidepool.dev/v1alpha1/ipallocations';

let server: FakeApiServer;
let identities: ChartIdentities;
let rest: KubeRest;
let clock: ManualClock;
let cache: ControllerCache;
let term: AbortController;
let running: Promise<void>;
let metricWrites = 0;
const logs: string[] = [];

async function call(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const parsed = await res.json();
  assert.ok(res.ok, JSON.stringify(parsed));
  return parsed;
}

const pool = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec });

function allocation(poolName: string, ip: string, allocated: boolean) {
  return {
    apiVersion: 'tidepool.dev/v1alpha1',
    kind: 'IPAllocation',
    metadata: { name: `${poolName}.${ip}`, labels: { 'tidepool.dev/pool': poolName, 'tidepool.dev/node': 'n1', 'tidepool.dev/state': allocated ? 'allocated' : 'released' } },
    spec: allocated
      ? { pool: poolName, ip, owner: { node: 'n1', containerId: `c-${ip}`, ifname: 'eth0', allocatedAt: '2025-01-02T03:04:05.678Z' } }
      : { pool: poolName, ip, releasedAt: '2025-01-02T03:04:05.678Z' },
  };
}

const statusWrites = () => server.stats().requests.patch?.['ippools/status'] ?? 0;
const status = async (name: string) => (await call('GET', `${POOLS}/${name}`)).status;

/** Waits in real time, without moving virtual time. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting until ${what}`);
}

/** Until the cache holds `resourceVersion` (or newer) of every object just written. */
async function cached(...written: Array<{ metadata: { name: string; resourceVersion: string } }>): Promise<void> {
  await until('the cache caught up', () =>
    written.every((o) => {
      const inCache = cache.allocations.get(o.metadata.name) ?? cache.pools.get(o.metadata.name);
      return Number(inCache?.metadata.resourceVersion ?? 0) >= Number(o.metadata.resourceVersion);
    }),
  );
}

before(async () => {
  server = await createFakeApiServer({ authentication: true });
  identities = await applyChartRbac(server);
  // The reconciler is the chart's controller account; the test sets up and reads as the administrator.
  const kc = new KubeConfig();
  kc.loadFromString(serviceAccountKubeconfig(server, identities.controller));
  rest = await createKubeRest(kc);
  await call('POST', POOLS, pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.20'] }));
  await call('POST', ALLOCS, allocation('lan', '10.6.0.10', true));
  clock = createManualClock();
  const log = createLogger({ level: 'debug', write: (l) => logs.push(l), now: () => clock.now() });
  cache = createControllerCache({ rest, clock, log });
  cache.start();
  const reconciler = createPoolStatusReconciler({ rest, cache, clock, log, metrics: { ...noControllerMetrics, poolStatusUpdate: () => metricWrites++ } });
  term = new AbortController();
  running = reconciler.run(term.signal);
});

after(async () => {
  term?.abort();
  await running;
  await cache?.stop();
  rest?.close();
  const refused = chartDenials(server, identities);
  await server?.close();
  assert.deepEqual(refused, [], 'RBAC refused none of the reconciler\'s requests');
});

describe('IPPool status (leader task, debounced)', () => {
  test('at the start of a term every pool gets its counts', async () => {
    await cache.waitForSync();
    await until('the first write', async () => {
      await clock.advance(0);
      return (await status('lan'))?.allocatedIPCount === 1;
    });
    assert.deepEqual(await status('lan'), { totalIPCount: '11', allocatedIPCount: 1 });
    assert.equal(statusWrites(), 1);
    assert.equal(metricWrites, 1);
  });

  test('a burst of allocations within one second costs one write', async () => {
    await clock.advance(5_000);
    const before = statusWrites();
    const written = [];
    for (const n of [11, 12, 13, 14]) written.push(await call('POST', ALLOCS, allocation('lan', `10.6.0.${n}`, true)));
    written.push(await call('POST', ALLOCS, allocation('lan', '10.6.0.15', false)));
    await cached(...written);
    await clock.advance(0);
    await until('the write', () => statusWrites() > before);
    await until('the write is in the cache', async () => cache.pools.get('lan')?.status?.allocatedIPCount === 5);
    assert.deepEqual(await status('lan'), { totalIPCount: '11', allocatedIPCount: 5 });
    assert.equal(statusWrites() - before, 1);
  });

  test('a change right after a write waits for the rest of the second', async () => {
    const before = statusWrites();
    const a = await call('GET', `${ALLOCS}/lan.10.6.0.11`);
    const released = await call('PUT', `${ALLOCS}/lan.10.6.0.11`, {
      ...a,
      metadata: { ...a.metadata, labels: { ...a.metadata.labels, 'tidepool.dev/state': 'released' } },
      spec: { pool: 'lan', ip: '10.6.0.11', releasedAt: '2025-01-02T03:04:06.000Z' },
    });
    await cached(released);
    await clock.advance(999);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(statusWrites(), before, 'not yet: the last write was less than a second ago');
    await clock.advance(1);
    await until('the delayed write', () => statusWrites() === before + 1);
    await until('status shows 4', async () => (await status('lan')).allocatedIPCount === 4);
  });

  test('nothing is written while the counts are right', async () => {
    await until('the last write is in the cache', async () => cache.pools.get('lan')?.status?.allocatedIPCount === 4);
    const before = statusWrites();
    for (let i = 0; i < 10; i++) await clock.advance(1_000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(statusWrites(), before);
  });

  test('a new pool and a spec change of the total are picked up', async () => {
    await cached(await call('POST', POOLS, pool('v6', { subnet: 'fd00::/64' })));
    await clock.advance(0);
    await until('v6 status', async () => (await status('v6'))?.totalIPCount !== undefined);
    assert.deepEqual(await status('v6'), { totalIPCount: '18446744073709551615', allocatedIPCount: 0 });
    const lan = await call('GET', `${POOLS}/lan`);
    await cached(await call('PUT', `${POOLS}/lan`, { ...lan, spec: { ...lan.spec, ips: ['10.6.0.10-10.6.0.29'] } }));
    await clock.advance(1_000);
    await until('lan total follows the spec', async () => (await status('lan')).totalIPCount === '20');
  });

  test('an invalid pool gets no status and one log line', async () => {
    await cached(await call('POST', POOLS, pool('broken', { subnet: '10.9.0.5/24' })), await call('POST', ALLOCS, allocation('broken', '10.9.0.7', true)));
    for (let i = 0; i < 3; i++) await clock.advance(1_000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await call('GET', `${POOLS}/broken`)).status, undefined);
    const lines = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'IPPool is invalid; its status is left unchanged' && l.pool === 'broken');
    assert.equal(lines.length, 1);
    assert.match(lines[0].err, /spec\.subnet "10\.9\.0\.5\/24" is not a network address/);
  });

  test('when the term ends, pending writes are dropped', async () => {
    const before = statusWrites();
    const last = await call('POST', ALLOCS, allocation('lan', '10.6.0.20', true));
    await cached(last);
    term.abort();
    await running;
    await clock.advance(5_000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(statusWrites(), before);
    assert.equal(clock.pending(), 0, 'no timer left behind');
  });
});
