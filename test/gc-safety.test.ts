// The garbage collector's safety rules, each a test against the fake API
// server in virtual time. Freeing an IP a pod still uses puts two pods on
// one address, so every rule here is about NOT releasing: owner-conditional
// writes, fresh reads over the cache, two sightings for scan-only findings,
// errors read as "alive", pods that are never candidates, and the cooldown
// that keeps a reclaimed IP out of circulation for a while.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planNextIp, planUsage } from '../src/ipam/allocate.ts';
import { formatAddress } from '../src/ipam/address.ts';
import { planPool } from '../src/ipam/pool.ts';
import { createKubernetesStore } from '../src/store/kubernetes.ts';
import { BOUND_MS, expectHeld, expectOnePerReclaim, expectReclaimed, PODS_PATH, LAN_POOL, startLanGcHarness, until, type GcHarness, type GcInstance } from './helpers/gc-harness.ts';

const POOL = LAN_POOL;
const HOUR = 3_600_000;

let h: GcHarness;
beforeEach(async () => {
  h = await startLanGcHarness();
});
afterEach(async () => {
  await h.close();
});

/** What an agent on the node does: its own store over the API server. */
async function agentStore() {
  const store = await createKubernetesStore({ rest: h.agentRest });
  return store;
}

const debugLines = (gc: GcInstance, msg: string, allocation: string) => gc.logs.filter((l) => l['msg'] === msg && l['allocation'] === allocation);

describe('release is conditional on the owner', () => {
  test('re-owned between the decision and the write (after the fresh read): not freed', async () => {
    const gc = await h.startGc();
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.10' });
    const b = await h.pod({ name: 'b', node: 'n1', podIPs: ['10.20.0.10'] });
    // The reclaim's fresh read of the pod is held until the test has moved the IP on: the decision
    // (pod a is gone) is right, but the IP is b's by the time the release is written.
    const gate = gc.rest.gate('get', /\/namespaces\/default\/pods\/a$/);
    await h.forceDeletePod('default', 'a');
    await gate.reached;
    // Meanwhile the late DEL frees it and pod b's ADD takes it.
    const agent = await agentStore();
    assert.equal(await agent.release(POOL, '10.20.0.10', { containerId: a.containerId, ifname: 'eth0', podUid: a.uid }, h.now()), true);
    await agent.close();
    await h.allocate({ pool: POOL, ip: '10.20.0.10', node: 'n1', pod: { namespace: 'default', name: 'b', uid: b } });
    gate.open();
    await h.advance(BOUND_MS);
    expectHeld(h, POOL, '10.20.0.10', b, "b's IP is not freed by a's reclaim");
    assert.deepEqual(gc.metrics.reclaims, []);
    assert.deepEqual(gc.events, []);
  });

  test('re-owned between the read and the write: the write at the old resourceVersion fails and nothing is freed', async () => {
    const gc = await h.startGc();
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.11' });
    const b = await h.pod({ name: 'b', node: 'n1', podIPs: ['10.20.0.11'] });
    const gate = gc.rest.gate('replace', /\/ipallocations\/lan\.10\.20\.0\.11$/);
    await h.forceDeletePod('default', 'a');
    await gate.reached;
    const agent = await agentStore();
    assert.equal(await agent.release(POOL, '10.20.0.11', { containerId: a.containerId, ifname: 'eth0', podUid: a.uid }, h.now()), true);
    await agent.close();
    await h.allocate({ pool: POOL, ip: '10.20.0.11', node: 'n1', pod: { namespace: 'default', name: 'b', uid: b } });
    const conflicts = h.server.stats().conflicts['ipallocations'] ?? 0;
    gate.open();
    await h.advance(BOUND_MS);
    assert.equal(h.server.stats().conflicts['ipallocations'], conflicts + 1, 'the stale write was refused');
    expectHeld(h, POOL, '10.20.0.11', b);
    assert.deepEqual(gc.metrics.reclaims, []);
  });
});

describe('a decision from the cache is confirmed by a fresh read', () => {
  test('pod the cache has not seen yet (watch lagging): no release', async () => {
    const gc = await h.startGc();
    const resume = gc.rest.hold(PODS_PATH);
    const uid = await h.pod({ name: 'new', node: 'n1', podIPs: ['10.20.0.12'] });
    const podGets = h.server.stats().requests.get?.['pods'] ?? 0;
    const name = await h.allocate({ pool: POOL, ip: '10.20.0.12', node: 'n1', pod: { namespace: 'default', name: 'new', uid } });
    await h.advance(BOUND_MS);
    assert.equal(gc.cache.pods.get('default/new'), undefined, 'the cache still lacks the pod');
    assert.ok((h.server.stats().requests.get?.['pods'] ?? 0) > podGets, 'the cached verdict was checked with a GET');
    assert.equal(debugLines(gc, 'cache said reclaim, API server says keep', name).length, 1, 'the cache did say reclaim');
    expectHeld(h, POOL, '10.20.0.12', uid);
    resume();
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.12', uid);
    assert.deepEqual(gc.metrics.reclaims, []);
  });

  test('pod created while the pod watch and list fail (injected faults): no release', async () => {
    const gc = await h.startGc();
    const watchFault = h.server.injectFault({ verb: 'watch', resource: 'pods', status: 500 });
    const listFault = h.server.injectFault({ verb: 'list', resource: 'pods', status: 500 });
    h.server.dropWatches();
    await h.advance(1_000);
    assert.ok(watchFault.hits >= 1, 'the pod watch is down');
    const uid = await h.pod({ name: 'unseen', node: 'n1', podIPs: ['10.20.0.13'] });
    const name = await h.allocate({ pool: POOL, ip: '10.20.0.13', node: 'n1', pod: { namespace: 'default', name: 'unseen', uid } });
    await h.advance(10_000);
    assert.equal(gc.cache.pods.get('default/unseen'), undefined, 'the cache is stale');
    assert.equal(debugLines(gc, 'cache said reclaim, API server says keep', name).length >= 1, true);
    expectHeld(h, POOL, '10.20.0.13', uid);
    watchFault.remove();
    listFault.remove();
    await h.advance(10_000);
    assert.ok(gc.cache.pods.get('default/unseen'), 'the cache caught up');
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.13', uid);
    assert.deepEqual(gc.metrics.reclaims, []);
  });
});

describe('an orphan found only by a scan is released on its second sighting', () => {
  test('seen by scans at 1, 2 and 3 min; released at 4 min, orphanConfirmMs (3 min) after the first', async () => {
    const gc = await h.startGc({ settings: { scanIntervalMs: 60_000, orphanConfirmMs: 180_000 } });
    const startedAt = h.now();
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.14' });
    // The event path cannot confirm (pod unreadable), so only scans can find it.
    const fault = h.server.injectFault({ verb: 'get', resource: 'pods', status: 500 });
    await h.forceDeletePod('default', 'a');
    // Longer than the confirmation retries (1+2+...+32 s): after them only the periodic scans look again.
    await h.advance(2 * 60_000);
    assert.ok(fault.hits >= 1);
    fault.remove();
    await h.advanceTo(startedAt + 4 * 60_000 - 1);
    assert.equal(gc.metrics.scans.length, 4, 'the takeover scan and three periodic scans');
    expectHeld(h, POOL, '10.20.0.14', a.uid, 'the sightings at 2 and 3 min are less than 3 min after the first');
    await h.advanceTo(startedAt + 4 * 60_000 + BOUND_MS);
    expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.14', reason: 'pod-deleted', uid: a.uid, from: startedAt + 4 * 60_000 });
  });
});

describe('orphanConfirmMs 0 turns the second sighting off', () => {
  test('the first periodic scan that finds an orphan acts, still through the fresh read', async () => {
    const gc = await h.startGc({ settings: { scanIntervalMs: 90_000, orphanConfirmMs: 0 } });
    const startedAt = h.now();
    const a = await h.podWithIp({ name: 'a0', node: 'n1', pool: POOL, ip: '10.20.0.15' });
    // The event path cannot confirm while pods are unreadable; it gives up after its retries (63 s).
    const fault = h.server.injectFault({ verb: 'get', resource: 'pods', status: 500 });
    await h.forceDeletePod('default', 'a0');
    await h.advanceTo(startedAt + 80_000);
    fault.remove();
    await h.advanceTo(startedAt + 90_000 - 1);
    expectHeld(h, POOL, '10.20.0.15', a.uid, 'left to the periodic scans, the first of which runs at 90 s');
    // With a second sighting required, the release would wait for the scan at 180 s.
    await h.advanceTo(startedAt + 90_000 + BOUND_MS);
    expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.15', reason: 'pod-deleted', uid: a.uid, from: startedAt + 90_000, latencyMs: Number.MAX_SAFE_INTEGER });
    const lines = gc.logs.filter((l) => l['msg'] === 'reclaimed' && l['ip'] === '10.20.0.15');
    assert.deepEqual(lines.map((l) => l['found']), ['periodic-scan']);
  });
});

describe('an API error counts as "the pod is alive"', () => {
  const cases = [
    {
      resource: 'pods',
      ip: '10.20.0.16',
      reason: 'pod-deleted',
      async arrange() {
        const p = await h.podWithIp({ name: 'plain', node: 'n1', pool: POOL, ip: '10.20.0.16' });
        return { uid: p.uid, act: () => h.forceDeletePod('default', 'plain') };
      },
    },
    {
      // The node's readiness decides whether a Terminating pod may go: an unreadable node keeps it.
      resource: 'nodes',
      ip: '10.20.0.17',
      reason: 'pod-terminating',
      async arrange() {
        await h.node('dead', { ready: false });
        const p = await h.podWithIp({ name: 'stuck', node: 'dead', pool: POOL, ip: '10.20.0.17', terminationGracePeriodSeconds: 1 });
        return { uid: p.uid, act: () => h.deletePod('default', 'stuck') };
      },
    },
    {
      resource: 'statefulsets',
      ip: '10.20.0.18',
      reason: 'statefulset-deleted',
      async arrange() {
        await h.statefulSet('default', 'web', 1);
        const p = await h.podWithIp({ name: 'web-0', node: 'n1', pool: POOL, ip: '10.20.0.18', ownerStatefulSet: 'web', statefulSet: { namespace: 'default', name: 'web', ordinal: 0 } });
        return {
          uid: p.uid,
          act: async () => {
            await h.deleteStatefulSet('default', 'web');
            await h.forceDeletePod('default', 'web-0');
          },
        };
      },
    },
  ] as const;
  for (const c of cases) {
    test(`500 on the fresh GET of ${c.resource}: no release while it lasts; released after it clears`, async () => {
      const gc = await h.startGc();
      const startedAt = h.now();
      const { uid, act } = await c.arrange();
      const fault = h.server.injectFault({ verb: 'get', resource: c.resource, status: 500 });
      await act();
      await h.advance(20 * 60_000);
      assert.ok(fault.hits >= 2, `fresh reads failed ${fault.hits} times`);
      expectHeld(h, POOL, c.ip, uid, `${c.resource} unreadable`);
      assert.deepEqual(gc.metrics.reclaims, []);
      const cleared = h.now();
      fault.remove();
      // The failed confirmation is retried with backoff (see the test below) and, failing that, by the periodic scan.
      const nextScan = startedAt + 25 * 60_000;
      await h.advanceTo(nextScan + BOUND_MS);
      expectReclaimed(h, gc, { pool: POOL, ip: c.ip, reason: c.reason, uid, from: cleared, within: nextScan - cleared + BOUND_MS, latencyMs: 26 * 60_000 });
      expectOnePerReclaim(gc);
    });
  }

  // A failed confirmation is not retried (unlike a failed write, retried after 1 s): after a short API
  // outage a deleted pod's IP waits for the next periodic scan (up to --gc-scan-interval, 5 min by default).
  test('a failed confirmation is retried soon after the API recovers, not only by the next periodic scan', async () => {
    const gc = await h.startGc();
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.18' });
    const fault = h.server.injectFault({ verb: 'get', resource: 'pods', status: 500, times: 1 });
    await h.forceDeletePod('default', 'a');
    assert.equal(fault.hits, 1);
    const cleared = h.now();
    await h.advance(10_000);
    expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.18', reason: 'pod-deleted', uid: a.uid, from: cleared, within: 10_000 });
  });
});

describe('pods that are never reclaimed', () => {
  test('Pending, Running, hostNetwork (any phase), Running with empty podIPs, and Running on a NotReady node: kept for hours and across a takeover', async () => {
    await h.node('flaky', { ready: false });
    const gc = await h.startGc();
    const pending = await h.pod({ name: 'pending', node: 'n1', phase: 'Pending' });
    await h.allocate({ pool: POOL, ip: '10.20.0.20', node: 'n1', pod: { namespace: 'default', name: 'pending', uid: pending } });
    const running = await h.podWithIp({ name: 'running', node: 'n1', pool: POOL, ip: '10.20.0.21' });
    const host = await h.podWithIp({ name: 'host', node: 'n1', pool: POOL, ip: '10.20.0.22', hostNetwork: true });
    const noIps = await h.pod({ name: 'no-ips', node: 'n1', podIPs: [] });
    await h.allocate({ pool: POOL, ip: '10.20.0.23', node: 'n1', pod: { namespace: 'default', name: 'no-ips', uid: noIps } });
    const onFlaky = await h.podWithIp({ name: 'on-flaky', node: 'flaky', pool: POOL, ip: '10.20.0.24' });
    // hostNetwork pods keep a recorded IP whatever their phase: it is not theirs to lose with the pod's network.
    const hostDone = await h.podWithIp({ name: 'host-done', node: 'n1', pool: POOL, ip: '10.20.0.25', hostNetwork: true });
    await h.finishPod('default', 'host-done', 'Succeeded', { finishedAt: h.now() });
    const hostStuck = await h.podWithIp({ name: 'host-stuck', node: 'flaky', pool: POOL, ip: '10.20.0.26', hostNetwork: true });
    await h.deletePod('default', 'host-stuck');
    const kept: Array<[string, string]> = [
      ['10.20.0.25', hostDone.uid],
      ['10.20.0.26', hostStuck.uid],
      ['10.20.0.20', pending],
      ['10.20.0.21', running.uid],
      ['10.20.0.22', host.uid],
      ['10.20.0.23', noIps],
      ['10.20.0.24', onFlaky.uid],
    ];
    await h.advance(2 * HOUR);
    await gc.stepDown();
    gc.lead();
    gc.reconciler.scanNow();
    await h.advance(HOUR);
    for (const [ip, uid] of kept) expectHeld(h, POOL, ip, uid);
    assert.deepEqual(gc.metrics.reclaims, []);
    assert.ok(gc.metrics.scans.length >= 30, 'periodic and takeover scans ran');
    // A fresh collector decides the same.
    const other = await h.startGc();
    await h.advance(HOUR);
    for (const [ip, uid] of kept) expectHeld(h, POOL, ip, uid);
    assert.deepEqual(other.metrics.reclaims, []);
  });
});

describe('a reclaimed IP is not handed out again during the cooldown', () => {
  test('spec.reusableAt = release + --gc-reclaim-cooldown; planNextIp skips the IP until then', async () => {
    await h.pool('tiny', '10.30.0.0/24', ['10.30.0.10-10.30.0.11']);
    const gc = await h.startGc({ settings: { reclaimCooldownMs: 30_000 } });
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: 'tiny', ip: '10.30.0.10' });
    await h.podWithIp({ name: 'b', node: 'n1', pool: 'tiny', ip: '10.30.0.11' });
    const moment = h.now();
    await h.forceDeletePod('default', 'a');
    await h.advance(BOUND_MS);
    const releasedAt = expectReclaimed(h, gc, { pool: 'tiny', ip: '10.30.0.10', reason: 'pod-deleted', uid: a.uid, from: moment });
    assert.equal(Date.parse(h.allocation('tiny', '10.30.0.10')!.spec.reusableAt!), releasedAt + 30_000);
    const pool = planPool(h.server.objects('ippools').find((p) => p.metadata.name === 'tiny'));
    const next = async (now: number) => {
      const usage = await gc.store.usage('tiny');
      const found = planNextIp(pool, planUsage(pool.family, usage.allocated, usage.released), { now });
      return found && formatAddress(found);
    };
    assert.equal(await next(releasedAt), undefined, 'nothing free right after the reclaim');
    assert.equal(await next(releasedAt + 30_000 - 1), undefined, 'still cooling down');
    assert.equal(await next(releasedAt + 30_000), '10.30.0.10', 'handed out once the cooldown is over');
    // The default cooldown is 3 s.
    await h.advance(30_000);
    const gc2 = await h.startGc({ name: 'defaults' });
    await gc.stepDown();
    const c = await h.podWithIp({ name: 'c', node: 'n1', pool: 'tiny', ip: '10.30.0.10' });
    await h.forceDeletePod('default', 'c');
    const again = expectReclaimed(h, gc2, { pool: 'tiny', ip: '10.30.0.10', reason: 'pod-deleted', uid: c.uid, from: h.now() });
    assert.equal(Date.parse(h.allocation('tiny', '10.30.0.10')!.spec.reusableAt!), again + 3_000);
  });
});

describe('records the controller cannot parse', () => {
  test('reported (metric, Event, log line naming the object), skipped, never deleted; the reconciler keeps working', async () => {
    const gc = await h.startGc();
    // The API server refuses such records today; they can only be left from an older, looser CRD.
    const bad = await h.server.withLooseSchema('ipallocations.tidepool.dev', async () => [
      await h.allocate({ pool: POOL, ip: '10.20.0.30', node: 'n1', pod: { namespace: 'default', name: 'gone-1', uid: 'u-1' }, ownerOverrides: { allocatedAt: 'yesterday' } }),
      await h.allocate({ pool: POOL, ip: '10.20.0.31', node: 'n1', pod: { namespace: 'default', name: 'gone-2', uid: 'u-2' }, ownerOverrides: { containerId: undefined } }),
      await h.allocate({ pool: POOL, ip: '10.20.0.32', node: 'n1', pod: { namespace: 'default', name: 'gone-3', uid: 'u-3' }, statefulSet: { namespace: 'default', name: 'db', ordinal: 'two' as never } }),
    ]);
    const before = bad.map((name) => JSON.stringify(h.server.objects('ipallocations').find((o) => o.metadata.name === name)));
    await h.advance(BOUND_MS);
    assert.equal(gc.metrics.invalid, 3, 'one invalidRecord per malformed object');
    for (const name of bad) {
      const events = gc.events.filter((e) => e.reason === 'InvalidIPAllocation' && e.message.includes(name));
      assert.equal(events.length, 1, `one Event for ${name}`);
      const poolUid = h.server.objects('ippools').find((p) => p.metadata.name === POOL)!.metadata.uid;
      assert.deepEqual(events[0]!.target, { kind: 'IPPool', name: POOL, uid: poolUid });
      const lines = gc.logs.filter((l) => l['level'] === 'error' && l['allocation'] === name);
      assert.equal(lines.length, 1, `one log line naming ${name}`);
      assert.ok(Array.isArray(lines[0]!['problems']) && (lines[0]!['problems'] as string[]).length > 0);
    }
    assert.match(gc.events.find((e) => e.message.includes(bad[0]!))!.message, /allocatedAt/);
    assert.match(gc.events.find((e) => e.message.includes(bad[1]!))!.message, /containerId/);
    // The reconciler still works: a valid orphan next to them is reclaimed in time.
    const ok = await h.podWithIp({ name: 'ok', node: 'n1', pool: POOL, ip: '10.20.0.33' });
    const moment = h.now();
    await h.forceDeletePod('default', 'ok');
    await h.advance(BOUND_MS);
    expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.33', reason: 'pod-deleted', uid: ok.uid, from: moment });
    // Scans, a new term and a new replica: still skipped, never rewritten, reported once per replica.
    await h.advance(HOUR);
    await gc.stepDown();
    gc.lead();
    await h.settle();
    await h.deleteNode('n1');
    await h.advance(HOUR);
    const after = bad.map((name) => JSON.stringify(h.server.objects('ipallocations').find((o) => o.metadata.name === name)));
    assert.deepEqual(after, before, 'never written or deleted');
    assert.equal(gc.metrics.invalid, 3, 'not re-reported on every scan');
    const usage = await gc.store.usage(POOL);
    for (const ip of ['10.20.0.30', '10.20.0.31', '10.20.0.32']) assert.ok(usage.allocated.includes(ip), `${ip} still counts as taken`);
    expectOnePerReclaim(gc);
  });
});

describe('observability of every reclaim', () => {
  // Bug (src/ipam/gc-rules.ts): `since` is the allocation time for pool-deleted and the deletionTimestamp for a
  // Terminating pod whose node only later turned NotReady, so the latency histogram reports the age of the
  // allocation (or of the deletion) instead of the time from "reclaimable" to "released".
  test('the latency sample counts from the moment the IP became reclaimable', async () => {
    await h.pool('retired', '10.21.0.0/24', ['10.21.0.10-10.21.0.20']);
    const gc = await h.startGc();
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: 'retired', ip: '10.21.0.10' });
    await h.advance(HOUR);
    const moment = h.now();
    await h.deletePool('retired');
    await h.advance(BOUND_MS);
    await until('reclaimed', () => gc.metrics.reclaims.length === 1, 1_000);
    expectReclaimed(h, gc, { pool: 'retired', ip: '10.21.0.10', reason: 'pool-deleted', uid: a.uid, from: moment });
  });
});
