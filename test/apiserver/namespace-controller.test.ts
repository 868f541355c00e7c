// Namespace deletion as a cluster does it: the DELETE only marks the
// namespace Terminating; the namespace controller empties it, reports what
// remains in its conditions, waits for pods in their grace period, and
// removes the namespace through /finalize once nothing is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcess, type InProcess } from './in-process.ts';

const NS = '/api/v1/namespaces';
const podBody = (name: string, extra: Record<string, unknown> = {}) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }], ...extra } });

async function setup(s: InProcess): Promise<void> {
  assert.equal((await s.call('POST', NS, { body: { metadata: { name: 'team' } } })).status, 201);
}

const conditions = (ns: any): Record<string, string> => Object.fromEntries((ns.status.conditions ?? []).map((c: any) => [c.type, `${c.status} ${c.reason}`]));

test('the DELETE marks the namespace Terminating and deletes nothing; the controller then empties and removes it', async () => {
  const s = startInProcess();
  try {
    await setup(s);
    await s.call('POST', `${NS}/team/pods`, { body: podBody('p') });
    await s.call('POST', '/apis/coordination.k8s.io/v1/namespaces/team/leases', { body: { metadata: { name: 'l' }, spec: {} } });
    const w = await s.watch(NS, { fieldSelector: 'metadata.name=team' });
    const marked = await s.call('DELETE', `${NS}/team`);
    assert.equal(marked.status, 200);
    assert.equal(marked.body.status.phase, 'Terminating');
    assert.deepEqual(marked.body.spec.finalizers, ['kubernetes']);
    assert.equal(marked.body.metadata.deletionGracePeriodSeconds, undefined);
    assert.equal((await s.call('GET', `${NS}/team/pods/p`)).status, 200, 'nothing deleted within the request');
    const again = await s.call('DELETE', `${NS}/team`);
    assert.equal(again.body.metadata.resourceVersion, marked.body.metadata.resourceVersion, 'a second DELETE writes nothing');
    await s.timers.advance(1_000);
    assert.equal((await s.call('GET', `${NS}/team/pods/p`)).status, 404);
    assert.equal((await s.call('GET', `${NS}/team`)).status, 404);
    // Marked Terminating, its conditions set, then removed by the /finalize update that empties spec.finalizers.
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    assert.deepEqual(conditions(w.events[2]!.object), {
      NamespaceDeletionDiscoveryFailure: 'False ResourcesDiscovered',
      NamespaceDeletionGroupVersionParsingFailure: 'False ParsedGroupVersions',
      NamespaceDeletionContentFailure: 'False ContentDeleted',
      NamespaceContentRemaining: 'False ContentRemoved',
      NamespaceFinalizersRemaining: 'False ContentHasNoFinalizers',
    });
    // Written by the controller, they are kube-controller-manager's in managedFields, as on a cluster.
    const managers = (w.events[2]!.object as any).metadata.managedFields.map((e: any) => `${e.manager} ${e.operation} ${e.subresource ?? ''}`.trim());
    assert.deepEqual(managers.sort(), ['kube-controller-manager Update status', 'unknown Update']);
  } finally {
    s.stop();
  }
});

test('pods in their grace period keep the namespace, reported in its conditions, until kubelet deletes them', async () => {
  const s = startInProcess();
  try {
    await setup(s);
    await s.call('POST', `${NS}/team/pods`, { body: podBody('bound', { nodeName: 'n1', terminationGracePeriodSeconds: 10 }) });
    await s.call('DELETE', `${NS}/team`);
    await s.timers.advance(1_000);
    const pod = await s.call('GET', `${NS}/team/pods/bound`);
    assert.ok(pod.body.metadata.deletionTimestamp);
    const ns = await s.call('GET', `${NS}/team`);
    assert.equal(ns.status, 200);
    assert.equal(conditions(ns.body)['NamespaceContentRemaining'], 'True SomeResourcesRemain');
    assert.equal(ns.body.status.conditions.find((c: any) => c.type === 'NamespaceContentRemaining').message, 'Some resources are remaining: pods. has 1 resource instances');
    assert.equal((await s.call('POST', `${NS}/team/pods`, { body: podBody('late') })).status, 403, 'no new content in a terminating namespace');
    await s.call('DELETE', `${NS}/team/pods/bound`, { body: { gracePeriodSeconds: 0 } });
    // The controller looks again after half the longest grace period (10 / 2 + 1 s).
    await s.timers.advance(6_000);
    assert.equal((await s.call('GET', `${NS}/team`)).status, 404);
  } finally {
    s.stop();
  }
});

test('content held by a finalizer keeps the namespace until the finalizer goes', async () => {
  const s = startInProcess();
  try {
    await setup(s);
    await s.call('POST', `${NS}/team/pods`, { body: { ...podBody('held'), metadata: { name: 'held', finalizers: ['example.com/hold'] } } });
    await s.call('DELETE', `${NS}/team`);
    await s.timers.advance(1_000);
    const ns = await s.call('GET', `${NS}/team`);
    assert.equal(conditions(ns.body)['NamespaceFinalizersRemaining'], 'True SomeFinalizersRemain');
    await s.call('PATCH', `${NS}/team/pods/held`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    await s.timers.advance(16_000);
    assert.equal((await s.call('GET', `${NS}/team`)).status, 404);
  } finally {
    s.stop();
  }
});

test('spec.finalizers change only through /finalize, and then only to standard or qualified names', async () => {
  const s = startInProcess({ controllers: { namespace: false } });
  try {
    await setup(s);
    const ns = (await s.call('GET', `${NS}/team`)).body;
    const main = await s.call('PUT', `${NS}/team`, { body: { ...ns, spec: { finalizers: [] } } });
    assert.deepEqual(main.body.spec.finalizers, ['kubernetes'], 'the main resource keeps spec.finalizers');
    const bad = await s.call('PUT', `${NS}/team/finalize`, { body: { ...main.body, spec: { finalizers: ['custom'] } } });
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /spec\.finalizers\[0\]: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified/);
    const ok = await s.call('PUT', `${NS}/team/finalize`, { body: { ...main.body, spec: { finalizers: ['example.com/mine'] } } });
    assert.deepEqual(ok.body.spec.finalizers, ['example.com/mine']);
    await s.call('DELETE', `${NS}/team`);
    await s.timers.advance(1_000);
    assert.equal((await s.call('GET', `${NS}/team`)).status, 200, 'without its controller, a namespace is never emptied');
    const cur = (await s.call('GET', `${NS}/team`)).body;
    await s.call('PUT', `${NS}/team/finalize`, { body: { ...cur, spec: { finalizers: [] } } });
    assert.equal((await s.call('GET', `${NS}/team`)).status, 404, 'the last spec finalizer removed through /finalize removes it');
  } finally {
    s.stop();
  }
});
