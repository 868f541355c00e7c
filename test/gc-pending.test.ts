// What tidepool_gc_oldest_pending_reclaim_seconds reads: the moment the
// oldest IP found reclaimable but not yet released became reclaimable. An IP
// the collector cannot release (the API server will not confirm) must show
// there for as long as it waits, through the event path's retries and the
// scans that take over after them, and disappear once it is released.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { BOUND_MS, expectReclaimed, LAN_POOL, startLanGcHarness, type GcHarness } from './helpers/gc-harness.ts';

const POOL = LAN_POOL;
let h: GcHarness;

beforeEach(async () => {
  h = await startLanGcHarness();
});
afterEach(async () => {
  await h.close();
});

test('an IP the API server will not let the collector confirm stays pending from its deletion until its release', async () => {
  const gc = await h.startGc({ settings: { scanIntervalMs: 60_000, orphanConfirmMs: 60_000 } });
  const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.10' });
  await h.settle();
  assert.equal(gc.reconciler.oldestPending(), undefined, 'nothing is reclaimable yet');
  const fault = h.server.injectFault({ verb: 'get', resource: 'pods', status: 500 });
  const deletedAt = h.now();
  await h.forceDeletePod('default', 'a');
  await h.advance(10_000);
  const pendingSince = gc.reconciler.oldestPending();
  assert.ok(pendingSince !== undefined && pendingSince >= deletedAt && pendingSince <= deletedAt + BOUND_MS, `pending since the deletion, got ${pendingSince}`);
  // Past the event path's retries (1 + 2 + ... + 32 s) and two scans: still the same moment.
  await h.advance(3 * 60_000);
  assert.equal(gc.reconciler.oldestPending(), pendingSince, 'the moment it became reclaimable does not move');
  fault.remove();
  const confirmedFrom = h.now();
  await h.advance(60_000 + BOUND_MS);
  expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.10', reason: 'pod-deleted', uid: a.uid, from: confirmedFrom, within: 60_000 + BOUND_MS });
  assert.equal(gc.reconciler.oldestPending(), undefined, 'released: nothing pending');
});

test('a leader that steps down reports nothing pending: the next leader reports what it finds', async () => {
  const gc = await h.startGc();
  await h.podWithIp({ name: 'b', node: 'n1', pool: POOL, ip: '10.20.0.11' });
  const fault = h.server.injectFault({ verb: 'get', resource: 'pods', status: 500 });
  await h.forceDeletePod('default', 'b');
  await h.advance(10_000);
  assert.notEqual(gc.reconciler.oldestPending(), undefined);
  await gc.stepDown();
  assert.equal(gc.reconciler.oldestPending(), undefined);
  fault.remove();
});
