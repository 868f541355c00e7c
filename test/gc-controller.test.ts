// The garbage collector as the controller binary wires it: flags parsed by
// parseControllerArgs, leader election, the Event poster writing core/v1
// Events, and Prometheus metrics on /metrics — all through startController
// with the harness's virtual clock and client, against the fake API server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BOUND_MS, startGcHarness, until, type GcHarness } from './helpers/gc-harness.ts';

let h: GcHarness;
before(async () => {
  h = await startGcHarness();
});
after(async () => {
  await h.close();
});

interface EventObject {
  metadata: { namespace: string };
  involvedObject: { apiVersion?: string; kind: string; name: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: string;
}

test('startController with --gc flags: reclaims within the bound, posts Events, exports reclaim metrics, honours the knobs', async () => {
  await h.node('n1');
  await h.pool('lan', '10.20.0.0/24', ['10.20.0.10-10.20.0.99']);
  const { controller, logs } = await h.startController(['--metrics-listen', '127.0.0.1:0', '--gc-reclaim-cooldown', '20s', '--gc-finished-delay', '10s', '--gc-scan-interval', '1m']);
  await until('the controller leads', async () => {
    await h.settle();
    return controller.isLeader();
  });
  await h.advance(1_000);

  const deleted = await h.podWithIp({ name: 'deleted', node: 'n1', pool: 'lan', ip: '10.20.0.10' });
  const job = await h.podWithIp({ name: 'job', node: 'n1', pool: 'lan', ip: '10.20.0.11' });
  const live = await h.podWithIp({ name: 'live', node: 'n1', pool: 'lan', ip: '10.20.0.12' });

  const deletedAt = h.now();
  await h.forceDeletePod('default', 'deleted');
  const finishedAt = h.now();
  await h.finishPod('default', 'job', 'Succeeded', { finishedAt });
  await h.advance(BOUND_MS);
  const releasedAt = h.releasedAt('lan', '10.20.0.10');
  assert.ok(releasedAt !== undefined && releasedAt - deletedAt <= BOUND_MS, 'the deleted pod’s IP is free within 2 s');
  assert.equal(Date.parse(h.allocation('lan', '10.20.0.10')!.spec.reusableAt!), releasedAt + 20_000, '--gc-reclaim-cooldown 20s');
  assert.equal(h.isFree('lan', '10.20.0.11'), false, '--gc-finished-delay 10s is not over');
  await h.advanceTo(finishedAt + 10_000 + BOUND_MS);
  const jobReleased = h.releasedAt('lan', '10.20.0.11');
  assert.ok(jobReleased !== undefined && jobReleased >= finishedAt + 10_000 && jobReleased <= finishedAt + 10_000 + BOUND_MS);
  assert.equal(h.isFree('lan', '10.20.0.12'), false);
  assert.equal(h.allocation('lan', '10.20.0.12')!.spec.owner!.podUid, live.uid);

  // Events: the pool's in `default` (where the API server keeps Events of cluster-scoped objects, so
  // `kubectl describe ippool lan` finds them by its UID), the (still existing) finished pod's in its own.
  await h.settle();
  const events = h.server.objects('events') as unknown as EventObject[];
  const poolUid = h.server.objects('ippools').find((p) => p.metadata.name === 'lan')!.metadata.uid;
  const onPool = events.filter((e) => e.reason === 'IPReclaimed' && e.involvedObject.kind === 'IPPool');
  assert.equal(onPool.length, 2, `${JSON.stringify(events)}; controller warnings: ${JSON.stringify(logs.filter((l) => l['msg'] === 'could not post event'))}`);
  for (const e of onPool) {
    assert.equal(e.metadata.namespace, 'default');
    assert.deepEqual(e.involvedObject, { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', name: 'lan', uid: poolUid });
    assert.equal(e.type, 'Normal');
  }
  assert.ok(onPool.some((e) => e.message.includes('10.20.0.10') && e.message.includes(`uid ${deleted.uid}`) && e.message.endsWith(': pod-deleted')));
  assert.ok(onPool.some((e) => e.message.includes('10.20.0.11') && e.message.includes(`uid ${job.uid}`) && e.message.endsWith(': pod-finished')));
  const onPod = events.filter((e) => e.reason === 'IPReclaimed' && e.involvedObject.kind === 'Pod');
  assert.deepEqual(
    onPod.map((e) => [e.metadata.namespace, e.involvedObject.name, e.involvedObject.uid]),
    [['default', 'job', job.uid]],
    'a Pod Event only for the pod that still exists',
  );

  const text = await (await fetch(`http://${controller.metricsAddress}/metrics`)).text();
  assert.match(text, /^tidepool_gc_reclaims_total\{collector="controller",reason="pod-deleted"\} 1$/m);
  assert.match(text, /^tidepool_gc_reclaims_total\{collector="controller",reason="pod-finished"\} 1$/m);
  assert.match(text, /^tidepool_gc_reclaim_latency_seconds_count\{collector="controller",reason="pod-deleted"\} 1$/m);
  assert.match(text, /^tidepool_gc_reclaim_latency_seconds_count\{collector="controller",reason="pod-finished"\} 1$/m);
  assert.match(text, /^tidepool_gc_scanned_allocations\{collector="controller"\} \d+$/m);
  assert.match(text, /^tidepool_gc_oldest_pending_reclaim_seconds\{collector="controller"\} 0$/m, 'nothing reclaimable is left waiting');
  assert.match(text, /^tidepool_workqueue_adds_total\{queue="garbage-collection"\} [1-9]\d*$/m);

  await controller.stop();
});
