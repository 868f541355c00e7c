import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ALLOC, allocation, pod, startHarness, statusOf } from './test-helpers.ts';

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

test('list: items, list resourceVersion, full label selector syntax', async () => {
  const h = await startHarness();
  try {
    const labels: Record<string, string>[] = [{ pool: 'a', state: 'allocated' }, { pool: 'a', state: 'released' }, { pool: 'b', state: 'allocated' }, { pool: 'c' }];
    for (const [i, l] of labels.entries()) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(`x${i}`, l) });
    const names = async (labelSelector: string): Promise<string[]> =>
      ((await h.custom.listClusterCustomObject({ ...ALLOC, labelSelector })) as { items: { metadata: { name: string } }[] }).items.map((o) => o.metadata.name);
    assert.deepEqual(await names('pool=a'), ['x0', 'x1']);
    assert.deepEqual(await names('pool==a,state=allocated'), ['x0']);
    assert.deepEqual(await names('pool!=a'), ['x2', 'x3']);
    assert.deepEqual(await names('pool in (a, b),state notin (released)'), ['x0', 'x2']);
    assert.deepEqual(await names('state'), ['x0', 'x1', 'x2']);
    assert.deepEqual(await names('!state'), ['x3']);
    const all = (await h.custom.listClusterCustomObject({ ...ALLOC })) as { metadata: { resourceVersion: string }; items: unknown[] };
    assert.equal(all.items.length, 4);
    assert.equal(all.metadata.resourceVersion, h.server.resourceVersion());
    for (const bad of ['pool in ()', 'pool=a b', 'a=b=c', '(x)', 'pool in (a']) {
      const r = await h.raw('GET', `/apis/tidepool.dev/v1alpha1/ipallocations?labelSelector=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.reason, 'BadRequest');
    }
  } finally {
    await h.close();
  }
});

test('list: field selectors, unsupported fields rejected like the real server', async () => {
  const h = await startHarness();
  try {
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('on-n1', { nodeName: 'n1' }) });
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('on-n2', { nodeName: 'n2' }) });
    await h.core.createNamespacedPod({ namespace: 'kube-system', body: pod('sys', { nodeName: 'n1' }) });
    const onN1 = await h.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    assert.deepEqual(onN1.items.map((p) => p.metadata!.name), ['on-n1', 'sys']);
    const pending = await h.core.listNamespacedPod({ namespace: 'default', fieldSelector: 'status.phase=Pending,metadata.name!=on-n2' });
    assert.deepEqual(pending.items.map((p) => p.metadata!.name), ['on-n1']);
    const bad = await statusOf(h.core.listNamespacedPod({ namespace: 'default', fieldSelector: 'spec.hostname=x' }));
    assert.equal(bad.code, 400);
    assert.equal(bad.status.message, 'field label not supported: spec.hostname');
    const crd = await statusOf(h.custom.listClusterCustomObject({ ...ALLOC, fieldSelector: 'spec.pool=p' }));
    assert.equal(crd.code, 400);
    assert.equal(crd.status.message, '"spec.pool" is not a known field selector: only "metadata.name"');
    const byName = (await h.custom.listClusterCustomObject({ ...ALLOC, fieldSelector: 'metadata.name=none' })) as { items: unknown[] };
    assert.equal(byName.items.length, 0);
  } finally {
    await h.close();
  }
});

test('list: limit/continue pages form a consistent snapshot', async () => {
  const h = await startHarness();
  try {
    for (let i = 0; i < 5; i++) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(`n${i}`) });
    const page1 = (await h.custom.listClusterCustomObject({ ...ALLOC, limit: 2 })) as any;
    assert.deepEqual(page1.items.map((o: any) => o.metadata.name), ['n0', 'n1']);
    assert.equal(page1.metadata.remainingItemCount, 3);
    const listRv = page1.metadata.resourceVersion;
    // Writes between pages must not show up in later pages.
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'n2' });
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('n21') });
    const cur = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'n3' });
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'n3', body: { ...cur, spec: { ...cur.spec, pool: 'changed' } } });
    const page2 = (await h.custom.listClusterCustomObject({ ...ALLOC, limit: 2, _continue: page1.metadata.continue })) as any;
    assert.deepEqual(page2.items.map((o: any) => o.metadata.name), ['n2', 'n3']);
    assert.equal(page2.items[1].spec.pool, 'p');
    assert.equal(page2.metadata.resourceVersion, listRv);
    const page3 = (await h.custom.listClusterCustomObject({ ...ALLOC, limit: 2, _continue: page2.metadata.continue })) as any;
    assert.deepEqual(page3.items.map((o: any) => o.metadata.name), ['n4']);
    assert.equal(page3.metadata.continue, undefined);
    const both = await h.raw('GET', `/apis/tidepool.dev/v1alpha1/ipallocations?limit=1&resourceVersion=1&continue=${encodeURIComponent(page1.metadata.continue)}`);
    assert.equal(both.status, 400);
  } finally {
    await h.close();
  }
});

test('list: an expired continue token is 410 Expired', async () => {
  const h = await startHarness({ historySize: 4 });
  try {
    for (let i = 0; i < 3; i++) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(`n${i}`) });
    const page1 = (await h.custom.listClusterCustomObject({ ...ALLOC, limit: 1 })) as any;
    for (let i = 0; i < 100; i++) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(`m${i}`) });
    const { code, status } = await statusOf(h.custom.listClusterCustomObject({ ...ALLOC, limit: 1, _continue: page1.metadata.continue }));
    assert.equal(code, 410);
    assert.equal(status.reason, 'Expired');
  } finally {
    await h.close();
  }
});

test('built-in lists omit per-item kind; list across all namespaces', async () => {
  const h = await startHarness();
  try {
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('a') });
    await h.core.createNamespacedPod({ namespace: 'kube-system', body: pod('b') });
    const r = await h.raw('GET', '/api/v1/pods');
    assert.equal(r.body.kind, 'PodList');
    assert.deepEqual(r.body.items.map((p: any) => `${p.metadata.namespace}/${p.metadata.name}`), ['default/a', 'kube-system/b']);
    assert.equal(r.body.items[0].kind, undefined);
    const ns = await h.raw('GET', '/api/v1/namespaces/kube-system/pods');
    assert.equal(ns.body.items.length, 1);
    assert.equal((await h.raw('POST', '/api/v1/pods', pod('c'))).status, 405);
  } finally {
    await h.close();
  }
});

test('merge patch (and strategic merge for built-ins) with resourceVersion precondition', async () => {
  const h = await startHarness();
  try {
    const c = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('m', { a: '1', b: '2' }) });
    const p = await h.custom.patchClusterCustomObject({ ...ALLOC, name: 'm', body: { metadata: { labels: { a: null, c: '3' } }, spec: { pool: 'x' } } }, merge);
    assert.deepEqual(p.metadata.labels, { b: '2', c: '3' });
    assert.equal(p.spec.pool, 'x');
    const stale = await statusOf(h.custom.patchClusterCustomObject({ ...ALLOC, name: 'm', body: { metadata: { resourceVersion: c.metadata.resourceVersion }, spec: { pool: 'y' } } }, merge));
    assert.equal(stale.code, 409);
    assert.equal(stale.status.reason, 'Conflict');
    const fresh = await h.custom.patchClusterCustomObject({ ...ALLOC, name: 'm', body: { metadata: { resourceVersion: p.metadata.resourceVersion }, spec: { pool: 'y' } } }, merge);
    assert.equal(fresh.spec.pool, 'y');
    const missing = await statusOf(h.custom.patchClusterCustomObject({ ...ALLOC, name: 'nope', body: { spec: {} } }, merge));
    assert.equal(missing.code, 404);
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('p') });
    const smp = await h.core.patchNamespacedPod({ name: 'p', namespace: 'default', body: { metadata: { labels: { x: 'y' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch));
    assert.equal(smp.metadata?.labels?.['x'], 'y');
    const crdSmp = await h.raw('PATCH', '/apis/tidepool.dev/v1alpha1/ipallocations/m', { spec: {} }, 'application/strategic-merge-patch+json');
    assert.equal(crdSmp.status, 415);
    assert.equal(crdSmp.body.reason, 'UnsupportedMediaType');
  } finally {
    await h.close();
  }
});

test('JSON patch ops; failed test op is 422; apply patch without a field manager is 422', async () => {
  const h = await startHarness();
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('j', { state: 'released' }) });
    const ok = await h.custom.patchClusterCustomObject(
      {
        ...ALLOC,
        name: 'j',
        body: [
          { op: 'test', path: '/metadata/labels/state', value: 'released' },
          { op: 'replace', path: '/metadata/labels/state', value: 'allocated' },
          { op: 'add', path: '/spec/releasedAt', value: '2026-01-01T00:00:00.000Z' },
          { op: 'copy', from: '/spec/releasedAt', path: '/spec/reusableAt' },
          { op: 'remove', path: '/spec/releasedAt' },
        ],
      },
      jsonPatch,
    );
    assert.equal(ok.metadata.labels.state, 'allocated');
    assert.deepEqual(ok.spec, { pool: 'p', ip: '10.0.0.1', reusableAt: '2026-01-01T00:00:00.000Z' });
    const failed = await statusOf(
      h.custom.patchClusterCustomObject({ ...ALLOC, name: 'j', body: [{ op: 'test', path: '/metadata/labels/state', value: 'released' }, { op: 'remove', path: '/spec' }] }, jsonPatch),
    );
    assert.equal(failed.code, 422);
    assert.equal(failed.status.message, 'testing value /metadata/labels/state failed: test failed');
    assert.ok((await h.custom.getClusterCustomObject({ ...ALLOC, name: 'j' })).spec, 'a failed patch changes nothing');
    const badDoc = await h.raw('PATCH', '/apis/tidepool.dev/v1alpha1/ipallocations/j', '[{"op":', 'application/json-patch+json');
    assert.equal(badDoc.status, 400);
    const apply = await h.raw('PATCH', '/apis/tidepool.dev/v1alpha1/ipallocations/j', 'metadata: {}', 'application/apply-patch+yaml');
    assert.equal(apply.status, 422, 'an apply must name its field manager');
    assert.equal(apply.body.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    const rename = await h.raw('PATCH', '/apis/tidepool.dev/v1alpha1/ipallocations/j', { metadata: { name: 'k' } }, 'application/merge-patch+json');
    assert.equal(rename.status, 400);
  } finally {
    await h.close();
  }
});

test('patch of /status on a kind with the subresource changes only status', async () => {
  const h = await startHarness();
  try {
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('p', { nodeName: 'n1' }) });
    const s = await h.core.patchNamespacedPodStatus({ name: 'p', namespace: 'default', body: { status: { phase: 'Running', podIP: '10.0.0.7' }, metadata: { labels: { ignored: 'yes' } } } }, merge);
    assert.equal(s.status?.phase, 'Running');
    assert.equal(s.metadata?.labels, undefined);
    const byIp = await h.core.listNamespacedPod({ namespace: 'default', fieldSelector: 'status.podIP=10.0.0.7' });
    assert.equal(byIp.items.length, 1);
  } finally {
    await h.close();
  }
});
