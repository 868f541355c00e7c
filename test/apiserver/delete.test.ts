import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOC, allocation, codeOf, openWatch, pod, startHarness, statusOf, until } from './test-helpers.ts';

const T0 = Date.parse('2030-05-01T00:00:00Z');

test('delete preconditions: uid and resourceVersion mismatches are 409 Conflict', async () => {
  const h = await startHarness();
  try {
    const a = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    const uid = await statusOf(h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a', body: { preconditions: { uid: 'not-it' } } }));
    assert.equal(uid.code, 409);
    assert.equal(uid.status.reason, 'Conflict');
    // BeforeDelete's wording, naming the kind (the storage layer's "Precondition failed" is only reached in a race).
    assert.equal(uid.status.message, `Operation cannot be fulfilled on IPAllocation.tidepool.dev "a": the UID in the precondition (not-it) does not match the UID in record (${a.metadata.uid}). The object might have been deleted and then recreated`);
    assert.deepEqual(uid.status.details, { name: 'a', group: 'tidepool.dev', kind: 'IPAllocation' });
    const rv = await statusOf(h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a', body: { preconditions: { resourceVersion: '1' } } }));
    assert.equal(rv.code, 409);
    assert.match(rv.status.message, /the ResourceVersion in the precondition \(1\) does not match the ResourceVersion in record \(\d+\)\. The object might have been modified$/);
    const gone = (await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a', body: { preconditions: { uid: a.metadata.uid, resourceVersion: a.metadata.resourceVersion } } })) as any;
    assert.equal(gone.metadata.name, 'a', 'custom resources answer DELETE with the object');
    const again = await statusOf(h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a' }));
    assert.equal(again.code, 404);
  } finally {
    await h.close();
  }
});

test('built-in kinds without returnDeletedObject answer DELETE with a Success Status', async () => {
  const h = await startHarness();
  try {
    const l = await h.coord.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l' }, spec: {} } });
    const r = await h.raw('DELETE', '/apis/coordination.k8s.io/v1/namespaces/default/leases/l');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'l', group: 'coordination.k8s.io', kind: 'leases', uid: l.metadata!.uid } });
  } finally {
    await h.close();
  }
});

test('a pod bound to a node is deleted gracefully; kubelet-style gracePeriodSeconds=0 removes it', async () => {
  const h = await startHarness({ now: () => new Date(T0) });
  try {
    const created = await h.core.createNamespacedPod({ namespace: 'default', body: pod('p', { nodeName: 'n1', grace: 45 }) });
    const w = await openWatch(h.kc, '/api/v1/namespaces/default/pods', { resourceVersion: created.metadata!.resourceVersion });
    const first = await h.core.deleteNamespacedPod({ name: 'p', namespace: 'default' });
    assert.equal(first.metadata?.deletionTimestamp?.toISOString(), new Date(T0 + 45_000).toISOString());
    assert.equal(first.metadata?.deletionGracePeriodSeconds, 45);
    assert.equal(first.metadata?.generation, 2);
    assert.ok(await h.core.readNamespacedPod({ name: 'p', namespace: 'default' }), 'still there during the grace period');
    // A second DELETE without a shorter period changes nothing.
    const second = await h.core.deleteNamespacedPod({ name: 'p', namespace: 'default' });
    assert.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
    // A shorter period moves the deadline.
    const shorter = await h.core.deleteNamespacedPod({ name: 'p', namespace: 'default', gracePeriodSeconds: 5 });
    assert.equal(shorter.metadata?.deletionTimestamp?.toISOString(), new Date(T0 + 5_000).toISOString());
    await h.core.deleteNamespacedPod({ name: 'p', namespace: 'default', body: { gracePeriodSeconds: 0 } });
    const missing = await statusOf(h.core.readNamespacedPod({ name: 'p', namespace: 'default' }));
    assert.equal(missing.code, 404);
    // kubelet's final delete shortens the grace period to 0 (a MODIFIED) and then removes the pod.
    assert.deepEqual((await w.waitFor(4)).map((e) => e.type), ['MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    w.abort();
  } finally {
    await h.close();
  }
});

test('pods not bound to a node, or finished, are removed at once', async () => {
  const h = await startHarness();
  try {
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('unbound') });
    await h.core.deleteNamespacedPod({ name: 'unbound', namespace: 'default' });
    assert.equal((await statusOf(h.core.readNamespacedPod({ name: 'unbound', namespace: 'default' }))).code, 404);
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('done', { nodeName: 'n1' }) });
    await h.core.patchNamespacedPodStatus({ name: 'done', namespace: 'default', body: [{ op: 'replace', path: '/status/phase', value: 'Succeeded' }] });
    await h.core.deleteNamespacedPod({ name: 'done', namespace: 'default' });
    assert.equal((await statusOf(h.core.readNamespacedPod({ name: 'done', namespace: 'default' }))).code, 404);
  } finally {
    await h.close();
  }
});

test('finalizers hold an object until an update removes the last one; none may be added meanwhile', async () => {
  const h = await startHarness({ now: () => new Date(T0) });
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: { ...allocation('f'), metadata: { name: 'f', finalizers: ['tidepool.dev/release', 'tidepool.dev/audit'] } } });
    const w = await openWatch(h.kc, '/apis/tidepool.dev/v1alpha1/ipallocations', { resourceVersion: h.server.resourceVersion() });
    const marked = (await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'f' })) as any;
    assert.equal(marked.metadata.deletionTimestamp, '2030-05-01T00:00:00Z');
    assert.equal(marked.metadata.deletionGracePeriodSeconds, 0);
    const add = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'f', body: { ...marked, metadata: { ...marked.metadata, finalizers: [...marked.metadata.finalizers, 'tidepool.dev/new'] } } }));
    assert.equal(add.code, 422);
    assert.match(add.status.message, /metadata\.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers \[\]string\{"tidepool.dev\/new"\}/);
    const one = await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'f', body: { ...marked, metadata: { ...marked.metadata, finalizers: ['tidepool.dev/audit'] } } });
    assert.ok(one.metadata.deletionTimestamp, 'the deletion timestamp survives updates');
    await h.custom.patchClusterCustomObject({ ...ALLOC, name: 'f', body: [{ op: 'remove', path: '/metadata/finalizers' }] });
    assert.equal((await statusOf(h.custom.getClusterCustomObject({ ...ALLOC, name: 'f' }))).code, 404);
    assert.deepEqual((await w.waitFor(3)).map((e) => e.type), ['MODIFIED', 'MODIFIED', 'DELETED']);
    w.abort();
  } finally {
    await h.close();
  }
});

test('deleting a namespace marks it Terminating; the namespace controller empties it and removes it', async () => {
  const h = await startHarness();
  try {
    await h.core.createNamespace({ body: { metadata: { name: 'team' } } });
    await h.core.createNamespacedPod({ namespace: 'team', body: pod('running', { nodeName: 'n1', grace: 2 }) });
    await h.core.createNamespacedPod({ namespace: 'team', body: pod('pending') });
    await h.coord.createNamespacedLease({ namespace: 'team', body: { metadata: { name: 'l' }, spec: {} } });
    const ns = await h.core.deleteNamespace({ name: 'team' });
    assert.equal((ns as any).status.phase, 'Terminating');
    assert.equal(h.server.objects('pods').length, 2, 'the DELETE itself deletes no content');
    await until(() => h.server.objects('leases').length === 0 && h.server.objects('pods').length === 1);
    assert.equal(h.server.objects('pods')[0]!.metadata.name, 'running');
    assert.ok(h.server.objects('pods')[0]!.metadata.deletionTimestamp, 'the bound pod waits for its kubelet');
    assert.ok(await h.core.readNamespace({ name: 'team' }));
    await h.core.deleteNamespacedPod({ name: 'running', namespace: 'team', gracePeriodSeconds: 0 });
    await until(async () => (await codeOf(h.core.readNamespace({ name: 'team' }))) === 404, 30_000);
    await h.core.createNamespace({ body: { metadata: { name: 'empty' } } });
    await h.core.deleteNamespace({ name: 'empty' });
    await until(async () => (await codeOf(h.core.readNamespace({ name: 'empty' }))) === 404);
  } finally {
    await h.close();
  }
});

test('deletecollection with a label selector', async () => {
  const h = await startHarness();
  try {
    for (const [n, s] of [['a', 'released'], ['b', 'allocated'], ['c', 'released']] as const) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(n, { state: s }) });
    const r = await h.raw('DELETE', '/apis/tidepool.dev/v1alpha1/ipallocations?labelSelector=state%3Dreleased');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.items.map((o: any) => o.metadata.name), ['a', 'c']);
    assert.deepEqual(h.server.objects('ipallocations').map((o) => o.metadata.name), ['b']);
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('x', { labels: { app: 'x' } }) });
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('y', { labels: { app: 'y' } }) });
    await h.core.deleteCollectionNamespacedPod({ namespace: 'default', labelSelector: 'app=x' });
    assert.deepEqual(h.server.objects('pods').map((o) => o.metadata.name), ['y']);
  } finally {
    await h.close();
  }
});

test('events: create, list and watch', async () => {
  const h = await startHarness();
  try {
    const w = await openWatch(h.kc, '/api/v1/namespaces/default/events', { fieldSelector: 'reason=IPAllocated' });
    await h.core.createNamespacedEvent({
      namespace: 'default',
      body: { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'IPAllocated', message: '10.0.0.1', type: 'Normal' },
    });
    const list = await h.core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=p' });
    assert.equal(list.items.length, 1);
    assert.equal((await w.waitFor(1))[0]!.object.reason, 'IPAllocated');
    w.abort();
  } finally {
    await h.close();
  }
});
