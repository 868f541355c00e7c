// Races in which an IPAM can free an IP a pod still uses, or hand one IP to
// two pods, replayed against the garbage collector on the fake API server in
// virtual time. Interleavings are forced, not hoped for: a watch held back
// (a lagging cache) or a request stopped at a gate (a decision made, its
// write not yet sent) puts the test exactly between two steps.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createKubernetesStore, type KubernetesStore } from '../src/store/kubernetes.ts';
import type { AllocationRecord } from '../src/store/port.ts';
import { BOUND_MS, expectHeld, expectOnePerReclaim, expectReclaimed, NODES_PATH, PODS_PATH, startGcHarness, type GcHarness } from './helpers/gc-harness.ts';

const POOL = 'lan';
const HOUR = 3_600_000;

let h: GcHarness;
let agent: KubernetesStore;
beforeEach(async () => {
  h = await startGcHarness();
  await h.node('n1');
  await h.pool(POOL, '10.20.0.0/24', ['10.20.0.10-10.20.0.99']);
  // The node agent's side: the same store the agent writes through.
  agent = await createKubernetesStore({ rest: h.agentRest });
});
afterEach(async () => {
  await agent.close();
  await h.close();
});

/** The AllocationRecord an agent's ADD writes for a pod. */
function record(p: { name: string; uid: string; ip: string; node?: string; containerId?: string; stableKey?: string }): AllocationRecord {
  return {
    pool: POOL,
    ip: p.ip,
    containerId: p.containerId ?? `ctr-${p.uid}`,
    ifname: 'eth0',
    netns: `/var/run/netns/cni-${p.uid.slice(0, 8)}`,
    node: p.node ?? 'n1',
    network: 'underlay',
    podNamespace: 'default',
    podName: p.name,
    podUid: p.uid,
    ...(p.stableKey ? { stableKey: p.stableKey } : {}),
    allocatedAt: h.now(),
  };
}

/** Waits until the agent's own cache shows the server's latest IPAllocations. */
async function agentCaughtUp(): Promise<void> {
  const want = h.server.objects('ipallocations').map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const have = agent.informer.list().map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
    if (JSON.stringify(have) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('the agent store did not catch up');
}

describe('races', () => {
  test("pod allocated before the controller's cache saw the pod (its events arrive a moment later): never released", async () => {
    const gc = await h.startGc();
    // The pod lands on a node the controller has not seen either.
    const resumePods = gc.rest.hold(PODS_PATH);
    const resumeNodes = gc.rest.hold(NODES_PATH);
    await h.node('fresh-node');
    const uid = await h.pod({ name: 'early', node: 'fresh-node', podIPs: ['10.20.0.10'] });
    await h.allocate({ pool: POOL, ip: '10.20.0.10', node: 'fresh-node', pod: { namespace: 'default', name: 'early', uid } });
    await h.advance(500);
    expectHeld(h, POOL, '10.20.0.10', uid, 'the API server knows the pod');
    resumeNodes();
    resumePods();
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.10', uid);
    assert.deepEqual(gc.metrics.reclaims, []);
  });

  test('StatefulSet scaled down and up again before its controller removed the pod: the ordinal keeps its IP', async () => {
    await h.statefulSet('default', 'web', 3);
    const gc = await h.startGc({ settings: { scanIntervalMs: 60_000, orphanConfirmMs: 60_000 } });
    const web2 = await h.podWithIp({ name: 'web-2', node: 'n1', pool: POOL, ip: '10.20.0.12', ownerStatefulSet: 'web', statefulSet: { namespace: 'default', name: 'web', ordinal: 2 } });
    await h.scaleStatefulSet('default', 'web', 2);
    await h.advance(5_000);
    await h.scaleStatefulSet('default', 'web', 3);
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.12', web2.uid);
    assert.deepEqual(gc.metrics.reclaims, []);
  });

  // Bug (src/ipam/gc-rules.ts): for an IP kept for a StatefulSet ordinal (or a VM) a Terminating pod counts as
  // gone, so scaling down frees the IP the moment the pod's deletion starts, while it still runs through its
  // grace period; 3 s later (the cooldown) another pod can be given the same IP. Plain pods wait for the
  // deletionTimestamp instead.
  test('StatefulSet scaled down and up again while the pod terminates: never freed while a web-2 is alive, never held by two pods', async () => {
    await h.statefulSet('default', 'web', 3);
    const gc = await h.startGc();
    const old = await h.podWithIp({ name: 'web-2', node: 'n1', pool: POOL, ip: '10.20.0.13', ownerStatefulSet: 'web', statefulSet: { namespace: 'default', name: 'web', ordinal: 2 } });
    const stableKey = 'sts:default/web/2';
    // The StatefulSet controller scales down by deleting web-2 gracefully.
    await h.scaleStatefulSet('default', 'web', 2);
    const deadline = (await h.deletePod('default', 'web-2'))!;
    await h.advance(4_000);
    // Another pod on the node asks for an IP: it must not get web-2's, which web-2 still uses.
    const other = await h.pod({ name: 'other', node: 'n1', podIPs: [] });
    await agentCaughtUp();
    const stolen = h.isFree(POOL, '10.20.0.13') && (await agent.reserve(record({ name: 'other', uid: other, ip: '10.20.0.13' })));
    assert.equal(stolen, false, 'web-2 (Terminating) still uses 10.20.0.13; no other pod may get it');
    expectHeld(h, POOL, '10.20.0.13', old.uid, 'never freed while web-2 is alive');
    // Scaled up again before the old pod is gone; the kubelet finishes it, the controller creates web-2 anew.
    await h.scaleStatefulSet('default', 'web', 3);
    await h.advanceTo(deadline - 10_000);
    expectHeld(h, POOL, '10.20.0.13', old.uid);
    await h.forceDeletePod('default', 'web-2');
    const fresh = await h.pod({ name: 'web-2', node: 'n1', podIPs: ['10.20.0.13'], ownerStatefulSet: 'web' });
    await agentCaughtUp();
    // The new web-2's ADD takes the ordinal's IP over from the old owner.
    assert.equal(await agent.transfer({ containerId: `ctr-${old.uid}`, ifname: 'eth0', podUid: old.uid }, record({ name: 'web-2', uid: fresh, ip: '10.20.0.13', stableKey })), true);
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.13', fresh);
    assert.deepEqual(gc.metrics.reclaims, []);
  });

  test("same-name pod recreated while the old one is still Terminating: the old UID's IP goes when the old pod is gone, the new pod's is untouched", async () => {
    await h.node('dead', { ready: false });
    await h.node('n2');
    const gc = await h.startGc({ settings: { terminatingDelayMs: 10_000 } });
    const old = await h.podWithIp({ name: 'db', node: 'dead', pool: POOL, ip: '10.20.0.14' });
    const deadline = (await h.deletePod('default', 'db'))!;
    await h.advance(5_000);
    expectHeld(h, POOL, '10.20.0.14', old.uid, 'inside its grace period');
    // An operator force-deletes the stuck pod and its controller recreates it on a healthy node, at once:
    // the collector's cache still shows the old pod Terminating when the new pod's IP appears.
    const resume = gc.rest.hold(PODS_PATH);
    await h.forceDeletePod('default', 'db');
    const fresh = await h.pod({ name: 'db', node: 'n2', podIPs: ['10.20.0.15'] });
    await h.allocate({ pool: POOL, ip: '10.20.0.15', node: 'n2', pod: { namespace: 'default', name: 'db', uid: fresh } });
    await h.advance(500);
    expectHeld(h, POOL, '10.20.0.15', fresh, 'the stale cache saw the old UID; the fresh read the new one');
    const moment = h.now();
    resume();
    await h.advance(BOUND_MS);
    expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.14', reason: 'pod-recreated', uid: old.uid, from: moment });
    // The old pod's timer (deletionTimestamp + delay) fires later and must not touch anything.
    await h.advanceTo(deadline + 10_000 + BOUND_MS);
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.15', fresh);
    assert.equal(gc.metrics.reclaims.length, 1);
    expectOnePerReclaim(gc);
  });

  test('a DEL that arrives after its IP was reclaimed and given to another pod does not free the new owner', async () => {
    const gc = await h.startGc();
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.16' });
    const moment = h.now();
    await h.forceDeletePod('default', 'a');
    await h.advance(BOUND_MS);
    expectReclaimed(h, gc, { pool: POOL, ip: '10.20.0.16', reason: 'pod-deleted', uid: a.uid, from: moment });
    await h.advance(3_000);
    const b = await h.pod({ name: 'b', node: 'n1', podIPs: [] });
    await agentCaughtUp();
    assert.equal(await agent.reserve(record({ name: 'b', uid: b, ip: '10.20.0.16' })), true, 'b gets the reclaimed IP after the cooldown');
    // The runtime finally sends a's DEL: with its UID, and as an old runtime would, without it.
    assert.equal(await agent.release(POOL, '10.20.0.16', { containerId: a.containerId, ifname: 'eth0', podUid: a.uid }, h.now()), false);
    assert.equal(await agent.release(POOL, '10.20.0.16', { containerId: a.containerId, ifname: 'eth0' }, h.now()), false);
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.16', b);
  });

  test('leadership moves in the middle of a reclaim: the new leader finishes it, the old one frees nothing', async () => {
    const one = await h.startGc({ name: 'replica-1' });
    const two = await h.startGc({ name: 'replica-2', lead: false });
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.17' });
    // Replica 1 is confirming the reclaim (its fresh read of the pod is on the wire) when it loses the lease.
    const gate = one.rest.gate('get', /\/namespaces\/default\/pods\/a$/);
    await h.forceDeletePod('default', 'a');
    await gate.reached;
    const oneDone = one.stepDown();
    const tookOver = h.now();
    two.lead();
    await h.settle();
    expectReclaimed(h, two, { pool: POOL, ip: '10.20.0.17', reason: 'pod-deleted', uid: a.uid, from: tookOver, within: 0 });
    // The IP moves on to b; then replica 1's stale reclaim goes through.
    await h.advance(3_000);
    const b = await h.pod({ name: 'b', node: 'n1', podIPs: [] });
    await agentCaughtUp();
    assert.equal(await agent.reserve(record({ name: 'b', uid: b, ip: '10.20.0.17' })), true);
    const writes = h.server.stats().requests.update?.['ipallocations'] ?? 0;
    gate.open();
    await oneDone;
    await h.advance(HOUR);
    expectHeld(h, POOL, '10.20.0.17', b, 'never a double free');
    assert.equal(h.server.stats().requests.update?.['ipallocations'] ?? 0, writes, 'the deposed leader wrote nothing');
    assert.deepEqual(one.metrics.reclaims, []);
    assert.equal(two.metrics.reclaims.length, 1, 'reclaimed once');
    expectOnePerReclaim(two);
  });

  test('leadership moves while the release write is in flight: it lands at most once', async () => {
    const one = await h.startGc({ name: 'replica-1' });
    const two = await h.startGc({ name: 'replica-2', lead: false });
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.18' });
    const gate = one.rest.gate('replace', /\/ipallocations\/lan\.10\.20\.0\.18$/);
    await h.forceDeletePod('default', 'a');
    await gate.reached;
    const oneDone = one.stepDown();
    const tookOver = h.now();
    two.lead();
    await h.settle();
    expectReclaimed(h, two, { pool: POOL, ip: '10.20.0.18', reason: 'pod-deleted', uid: a.uid, from: tookOver, within: 0 });
    const releasedRv = h.allocation(POOL, '10.20.0.18')!.metadata.resourceVersion;
    gate.open();
    await oneDone;
    await h.settle();
    assert.equal(h.allocation(POOL, '10.20.0.18')!.metadata.resourceVersion, releasedRv, "replica 1's write at the old resourceVersion was refused");
    assert.deepEqual(one.metrics.reclaims, []);
    assert.equal(two.metrics.reclaims.length, 1);
  });

  test('a deposed leader sends no write after its term ended, even with no new leader yet', async () => {
    const one = await h.startGc({ name: 'replica-1' });
    const a = await h.podWithIp({ name: 'a', node: 'n1', pool: POOL, ip: '10.20.0.19' });
    // Stopped while confirming (fresh read of the pod), before any decision to write.
    const gate = one.rest.gate('get', /\/pods\/a$/);
    await h.forceDeletePod('default', 'a');
    await gate.reached;
    const done = one.stepDown();
    gate.open();
    await done;
    await h.advance(BOUND_MS);
    expectHeld(h, POOL, '10.20.0.19', a.uid, 'left to the next leader');
    assert.deepEqual(one.metrics.reclaims, []);
    const next = await h.startGc({ name: 'replica-2' });
    expectReclaimed(h, next, { pool: POOL, ip: '10.20.0.19', reason: 'pod-deleted', uid: a.uid, from: h.now(), within: 0 });
  });

  test('controller restarted after 500 pods were deleted while it was down: the takeover scan reclaims all 500 and none of the live ones', async () => {
    await h.pool('big', '10.40.0.0/22', ['10.40.0.10-10.40.3.250']);
    const ipOf = (i: number) => `10.40.${Math.floor((i + 10) / 256)}.${(i + 10) % 256}`;
    const batch = async (from: number, to: number, fn: (i: number) => Promise<unknown>) => {
      for (let i = from; i < to; i += 50) await Promise.all(Array.from({ length: Math.min(50, to - i) }, (_, k) => fn(i + k)));
    };
    const uids = new Map<number, string>();
    await batch(0, 560, async (i) => uids.set(i, (await h.podWithIp({ name: `p-${i}`, node: 'n1', pool: 'big', ip: ipOf(i) })).uid));
    // The controller is down; 500 pods go away without their DEL ever reaching an agent.
    await batch(0, 500, (i) => h.forceDeletePod('default', `p-${i}`));
    await h.advance(60_000);
    const startedAt = h.now();
    const gc = await h.startGc();
    assert.equal(h.now(), startedAt);
    const freed = Array.from({ length: 500 }, (_, i) => i).filter((i) => h.isFree('big', ipOf(i)));
    assert.equal(freed.length, 500, 'all 500 reclaimed by the takeover scan');
    for (let i = 0; i < 500; i++) assert.equal(h.releasedAt('big', ipOf(i)), startedAt);
    for (let i = 500; i < 560; i++) expectHeld(h, 'big', ipOf(i), uids.get(i)!);
    assert.equal(gc.metrics.reclaims.length, 500);
    assert.ok(gc.metrics.reclaims.every((r) => r.reason === 'pod-deleted'));
    assert.equal(gc.events.filter((e) => e.target.kind === 'IPPool').length, 500);
    await h.advance(HOUR);
    for (let i = 500; i < 560; i++) expectHeld(h, 'big', ipOf(i), uids.get(i)!);
    assert.equal(gc.metrics.reclaims.length, 500);
  });
});
