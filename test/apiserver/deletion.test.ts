// What a watcher sees when objects are deleted, case by case, as the real
// server's generic store and pod strategy decide it (see deletion.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcess, T0, type InProcess } from './in-process.ts';

const PODS = '/api/v1/namespaces/default/pods';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';

function podBody(name: string, o: { nodeName?: string; grace?: number; finalizers?: string[] } = {}): unknown {
  const spec: Record<string, unknown> = { containers: [{ name: 'c', image: 'registry.example/app:1' }] };
  if (o.nodeName) spec['nodeName'] = o.nodeName;
  if (o.grace !== undefined) spec['terminationGracePeriodSeconds'] = o.grace;
  return { metadata: { name, ...(o.finalizers ? { finalizers: o.finalizers } : {}) }, spec };
}

/** Creates an object, deletes it with `options`, and returns the event types a watcher saw after the create. */
async function deletionEvents(s: InProcess, path: string, body: unknown, options?: Record<string, unknown>, query?: Record<string, string>): Promise<{ types: string[]; answer: { status: number; body: any } }> {
  const created = await s.call('POST', path, { body });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const w = await s.watch(path, { resourceVersion: created.body.metadata.resourceVersion });
  const answer = await s.call('DELETE', `${path}/${created.body.metadata.name}`, { ...(options ? { body: options } : {}), ...(query ? { query } : {}) });
  await s.timers.advance(100);
  w.stop();
  return { types: w.events.map((e) => e.type), answer };
}

test('a pod deleted with a zero grace period is MODIFIED (deletionTimestamp, grace 0) and then DELETED, scheduled or not', async () => {
  const s = startInProcess();
  try {
    for (const [name, body, options] of [
      ['unscheduled', podBody('unscheduled'), undefined],
      ['forced', podBody('forced', { nodeName: 'n1' }), { gracePeriodSeconds: 0 }],
    ] as const) {
      const { types, answer } = await deletionEvents(s, PODS, body, options);
      assert.deepEqual(types, ['MODIFIED', 'DELETED'], name);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.metadata.deletionGracePeriodSeconds, 0, `${name}: the answer is the removed pod as last written`);
      assert.equal(answer.body.metadata.deletionTimestamp, new Date(T0).toISOString().replace('.000', ''));
    }
  } finally {
    s.stop();
  }
});

test('a scheduled pod is only MODIFIED; kubelet\'s final delete (grace 0) is MODIFIED then DELETED', async () => {
  const s = startInProcess();
  try {
    const { types, answer } = await deletionEvents(s, PODS, podBody('p', { nodeName: 'n1', grace: 20 }));
    assert.deepEqual(types, ['MODIFIED']);
    assert.equal(answer.body.metadata.deletionGracePeriodSeconds, 20);
    const w = await s.watch(PODS, { resourceVersion: answer.body.metadata.resourceVersion });
    await s.timers.advance(5_000);
    const final = await s.call('DELETE', `${PODS}/p`, { body: { gracePeriodSeconds: 0 } });
    assert.equal(final.status, 200);
    await s.timers.advance(100);
    assert.deepEqual(w.events.map((e) => e.type), ['MODIFIED', 'DELETED']);
    // The deadline moved back to the start of the grace period, which is past: now, with grace 0.
    assert.equal(w.events[0]!.object.metadata.deletionGracePeriodSeconds, 0);
    assert.equal(w.events[0]!.object.metadata.deletionTimestamp, new Date(T0 + 5_000).toISOString().replace('.000', ''));
  } finally {
    s.stop();
  }
});

test('a negative grace period is 1 s, as the pod strategy makes it', async () => {
  const s = startInProcess();
  try {
    const { types, answer } = await deletionEvents(s, PODS, podBody('neg', { nodeName: 'n1' }), { gracePeriodSeconds: -5 });
    assert.deepEqual(types, ['MODIFIED']);
    assert.equal(answer.body.metadata.deletionGracePeriodSeconds, 1);
    assert.equal(answer.body.metadata.deletionTimestamp, new Date(T0 + 1_000).toISOString().replace('.000', ''));
  } finally {
    s.stop();
  }
});

test('shortening a running grace period whose deadline has passed leaves 1 s, so kubelet still makes the final delete', async () => {
  const s = startInProcess();
  try {
    await s.call('POST', PODS, { body: podBody('slow', { nodeName: 'n1', grace: 10 }) });
    await s.call('DELETE', `${PODS}/slow`);
    await s.timers.advance(8_000);
    const shorter = await s.call('DELETE', `${PODS}/slow`, { body: { gracePeriodSeconds: 5 } });
    assert.equal(shorter.body.metadata.deletionGracePeriodSeconds, 1);
    assert.equal(shorter.body.metadata.deletionTimestamp, new Date(T0 + 8_000).toISOString().replace('.000', ''));
    const longer = await s.call('DELETE', `${PODS}/slow`, { body: { gracePeriodSeconds: 30 } });
    assert.equal(longer.body.metadata.resourceVersion, shorter.body.metadata.resourceVersion, 'a longer period changes nothing');
  } finally {
    s.stop();
  }
});

test('an object held by finalizers is MODIFIED; the update removing the last one DELETEs it', async () => {
  const s = startInProcess();
  try {
    const { types, answer } = await deletionEvents(s, PODS, podBody('held', { finalizers: ['example.com/hold'] }));
    assert.deepEqual(types, ['MODIFIED'], 'an unscheduled pod with a finalizer waits too');
    assert.equal(answer.body.metadata.deletionGracePeriodSeconds, 0);
    const again = await s.call('DELETE', `${PODS}/held`);
    assert.equal(again.body.metadata.resourceVersion, answer.body.metadata.resourceVersion, 'a second DELETE writes nothing');
    const w = await s.watch(PODS, { resourceVersion: answer.body.metadata.resourceVersion });
    const patched = await s.call('PATCH', `${PODS}/held`, { body: { metadata: { finalizers: null } }, contentType: 'application/merge-patch+json' });
    assert.equal(patched.status, 200);
    await s.timers.advance(100);
    assert.deepEqual(w.events.map((e) => e.type), ['DELETED']);
  } finally {
    s.stop();
  }
});

test('kinds without graceful deletion are DELETED at once, and answer with a Status', async () => {
  const s = startInProcess();
  try {
    const { types, answer } = await deletionEvents(s, LEASES, { metadata: { name: 'l' }, spec: {} });
    assert.deepEqual(types, ['DELETED']);
    assert.equal(answer.body.kind, 'Status');
  } finally {
    s.stop();
  }
});

test('DeleteOptions: an unknown propagation policy, or one given with orphanDependents, is 422; orphanDependents=false answers 202 while the object stays', async () => {
  const s = startInProcess();
  try {
    await s.call('POST', LEASES, { body: { metadata: { name: 'l' }, spec: {} } });
    const bad = await s.call('DELETE', `${LEASES}/l`, { body: { propagationPolicy: 'Sometimes' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.message, 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sometimes": supported values: "Foreground", "Background", "Orphan", "nil"');
    const both = await s.call('DELETE', `${LEASES}/l`, { body: { propagationPolicy: 'Orphan', orphanDependents: true } });
    assert.equal(both.status, 422);
    assert.match(both.body.message, /propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set/);
    const typed = await s.call('DELETE', `${LEASES}/l`, { body: { gracePeriodSeconds: 'soon' } });
    assert.equal(typed.status, 400);
    assert.equal(typed.body.message, 'json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds of type int64');
    // orphanDependents=false is background deletion (no finalizer): the lease goes at once, answered 200.
    const gone = await s.call('DELETE', `${LEASES}/l`, { body: { orphanDependents: false } });
    assert.equal(gone.status, 200);
    // Not removed at once (a grace period runs) and orphanDependents=false: 202.
    await s.call('POST', PODS, { body: podBody('p', { nodeName: 'n1' }) });
    const accepted = await s.call('DELETE', `${PODS}/p`, { body: { orphanDependents: false } });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.body.metadata.deletionGracePeriodSeconds, 30);
  } finally {
    s.stop();
  }
});

test('a DELETE body wins over query parameters; without a body the query is read', async () => {
  const s = startInProcess();
  try {
    await s.call('POST', PODS, { body: podBody('a', { nodeName: 'n1', grace: 30 }) });
    const withBody = await s.call('DELETE', `${PODS}/a`, { body: { gracePeriodSeconds: 7 }, query: { gracePeriodSeconds: '3' } });
    assert.equal(withBody.body.metadata.deletionGracePeriodSeconds, 7);
    await s.call('POST', PODS, { body: podBody('b', { nodeName: 'n1', grace: 30 }) });
    const withQuery = await s.call('DELETE', `${PODS}/b`, { query: { gracePeriodSeconds: '3' } });
    assert.equal(withQuery.body.metadata.deletionGracePeriodSeconds, 3);
  } finally {
    s.stop();
  }
});

test('default, kube-system and kube-public may not be deleted', async () => {
  const s = startInProcess();
  try {
    for (const ns of ['default', 'kube-system', 'kube-public']) {
      const r = await s.call('DELETE', `/api/v1/namespaces/${ns}`);
      assert.equal(r.status, 403);
      assert.equal(r.body.message, `namespaces "${ns}" is forbidden: this namespace may not be deleted`);
    }
  } finally {
    s.stop();
  }
});
