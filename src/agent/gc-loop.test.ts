import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPools } from '../ipam/pool.ts';
import { createMemoryStore } from '../store/memory.ts';
import { silentLogger } from '../util/logger.ts';
import { createIpamService } from './ipam-service.ts';
import { startGcLoop } from './gc-loop.ts';

const POOLS = planPools([{ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.20'], default: true } }]);
const GRACE = 10_000;
const INTERVAL = 5_000;

/** Lets the loop's promise chains settle between timer steps. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('the collection loop', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  async function world() {
    const gone = new Set<string>();
    const service = createIpamService({
      store: createMemoryStore(),
      pools: POOLS,
      node: 'n',
      now: () => Date.now(),
      probeNetns: (p) => (gone.has(p) ? { exists: false } : { exists: true, id: `4:${p}`, isNamespace: true }),
      gcGraceMs: GRACE,
    });
    await service.allocate({ containerId: 'c1', ifname: 'eth0', netns: '/run/netns/c1' });
    const held = async () => (await service.allocations()).length;
    return { service, gone, held };
  }

  test('a standalone loop collects at once, so a namespace gone before the start counts from the start', async () => {
    const { service, gone, held } = await world();
    gone.add('/run/netns/c1');
    const loop = startGcLoop(service, INTERVAL, GRACE, true, silentLogger);
    await settle();
    assert.deepEqual((await service.collect(undefined, true)).waiting.map((w) => w.goneSinceMs), [1_000_000], 'sighted at the start');
    mock.timers.tick(GRACE - 1);
    await settle();
    assert.equal(await held(), 1, 'not before the grace ends');
    mock.timers.tick(1);
    await settle();
    assert.equal(await held(), 0);
    await loop.stop();
  });

  test('with ticks out of phase with the sighting, the reclaim still comes when the grace ends', async () => {
    const { service, gone, held } = await world();
    const loop = startGcLoop(service, INTERVAL, GRACE, true, silentLogger);
    await settle();
    mock.timers.tick(3_000);
    gone.add('/run/netns/c1');
    // Sighted at 3 s (a collection out of the ticks' phase, as after a restart), so its grace ends at 13 s.
    await service.collect();
    mock.timers.tick(GRACE - 1);
    await settle();
    assert.equal(await held(), 1);
    mock.timers.tick(1);
    await settle();
    // Sighted at 3 s, grace ends at 13 s, between the ticks at 10 s and 15 s.
    assert.equal(await held(), 0, 'reclaimed at 13 s, not at the tick at 15 s');
    await loop.stop();
  });

  test('stop ends every timer: nothing is collected afterwards', async () => {
    const { service, gone, held } = await world();
    const loop = startGcLoop(service, INTERVAL, GRACE, false, silentLogger);
    gone.add('/run/netns/c1');
    mock.timers.tick(INTERVAL);
    await settle();
    await loop.stop();
    mock.timers.tick(10 * INTERVAL);
    await settle();
    assert.equal(await held(), 1);
  });
});
