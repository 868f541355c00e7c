import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { measureConditionalCreates } from './bench-helpers.ts';
import { ALLOC, allocation, pod, startHarness, statusOf } from './test-helpers.ts';

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('injectFault: status replies, times, name matching, removal', async () => {
  const h = await startHarness();
  try {
    const f = h.server.injectFault({ verb: 'create', resource: 'ipallocations', name: undefined, status: 503, times: 2 });
    for (let i = 0; i < 2; i++) {
      const { code, status } = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') }));
      assert.equal(code, 503);
      assert.equal(status.reason, 'ServiceUnavailable');
    }
    assert.equal(f.hits, 2);
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    const g = h.server.injectFault({ verb: 'update', name: /^b\./, status: 409 });
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('b.1') });
    const b = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'b.1' });
    const conflict = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'b.1', body: b }));
    assert.equal(conflict.code, 409);
    assert.equal(conflict.status.reason, 'Conflict');
    const a = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'a' });
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'a', body: a });
    g.remove();
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'b.1', body: b });
    const w = h.server.injectFault({ verb: 'watch', resource: 'pods', status: 500, times: 1 });
    const res = await fetch(`${h.server.url}/api/v1/pods?watch=true`);
    assert.equal(res.status, 500);
    assert.equal(w.hits, 1);
  } finally {
    await h.close();
  }
});

test('injectFault: delay and hang', async () => {
  const h = await startHarness();
  try {
    h.server.injectFault({ verb: 'get', resource: 'pods', delayMs: 60, times: 1 });
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('p') });
    const t0 = Date.now();
    await h.core.readNamespacedPod({ name: 'p', namespace: 'default' });
    assert.ok(Date.now() - t0 >= 50, 'the reply was delayed');
    const hang = h.server.injectFault({ verb: 'list', resource: 'pods', hang: true });
    const pending = fetch(`${h.server.url}/api/v1/pods`).then(
      () => 'answered',
      () => 'connection closed',
    );
    await until(() => hang.hits === 1, 'the hanging request');
    await h.server.close();
    assert.equal(await pending, 'connection closed');
  } finally {
    await h.close();
  }
});

test('injectFault: reset breaks the connection without an answer and applies nothing', async () => {
  const h = await startHarness();
  try {
    const reset = h.server.injectFault({ verb: 'create', resource: 'pods', reset: true, times: 1 });
    const outcome = await fetch(`${h.server.url}/api/v1/namespaces/default/pods`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(pod('p')) }).then(
      (res) => `answered ${res.status}`,
      () => 'connection broken',
    );
    assert.equal(outcome, 'connection broken');
    assert.equal(reset.hits, 1);
    assert.deepEqual(h.server.objects('pods'), []);
  } finally {
    await h.close();
  }
});

test('stats count requests by verb and resource; resetStats clears them', async () => {
  const h = await startHarness();
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') }));
    await h.custom.listClusterCustomObject({ ...ALLOC });
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('p') });
    await h.core.patchNamespacedPodStatus({ name: 'p', namespace: 'default', body: [{ op: 'add', path: '/status/podIP', value: '10.0.0.1' }] });
    const s = h.server.stats();
    assert.equal(s.requests.create?.['ipallocations'], 2);
    assert.equal(s.requests.list?.['ipallocations'], 1);
    assert.equal(s.requests.patch?.['pods/status'], 1);
    assert.equal(s.alreadyExists['ipallocations'], 1);
    assert.equal(s.responses['409'], 1);
    assert.equal(s.total, 5);
    h.server.resetStats();
    assert.equal(h.server.stats().total, 0);
  } finally {
    await h.close();
  }
});

test('objects() returns copies; the injected clock drives timestamps', async () => {
  let now = new Date('2031-01-01T00:00:00Z');
  const h = await startHarness({ now: () => now });
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    now = new Date('2031-06-01T12:00:00Z');
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('b') });
    const objs = h.server.objects('ipallocations.tidepool.dev');
    assert.deepEqual(objs.map((o) => o.metadata.creationTimestamp), ['2031-01-01T00:00:00Z', '2031-06-01T12:00:00Z']);
    objs[0]!.metadata.name = 'mutated';
    assert.equal(h.server.objects('ipallocations')[0]!.metadata.name, 'a');
    assert.throws(() => h.server.objects('nonsense'), /unknown resource/);
  } finally {
    await h.close();
  }
});

test('discovery, version and health endpoints', async () => {
  const h = await startHarness();
  try {
    const api = await h.raw('GET', '/api');
    assert.deepEqual(api.body.versions, ['v1']);
    const core = await h.raw('GET', '/api/v1');
    const pods = core.body.resources.find((r: any) => r.name === 'pods');
    assert.deepEqual(pods, { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['po'] });
    assert.ok(core.body.resources.some((r: any) => r.name === 'pods/status'));
    const groups = await h.raw('GET', '/apis');
    assert.ok(groups.body.groups.some((g: any) => g.name === 'tidepool.dev' && g.preferredVersion.version === 'v1alpha1'));
    const tp = await h.raw('GET', '/apis/tidepool.dev/v1alpha1');
    assert.deepEqual(
      tp.body.resources.filter((r: any) => !r.name.includes('/')).map((r: any) => [r.name, r.kind, r.namespaced]),
      [
        ['ipallocations', 'IPAllocation', false],
        ['ippools', 'IPPool', false],
        ['reservedips', 'ReservedIP', false],
      ],
    );
    assert.ok(tp.body.resources.some((r: any) => r.name === 'ippools/status'));
    assert.equal((await h.raw('GET', '/apis/apps/v1')).body.resources[0].name, 'statefulsets');
    assert.equal((await h.raw('GET', '/version')).body.major, '1');
    for (const p of ['/healthz', '/readyz', '/livez']) assert.equal((await h.raw('GET', p)).text, 'ok');
    const v = await h.kc.makeApiClient(k8s.VersionApi).getCode();
    assert.equal(v.gitVersion, 'v1.31.0-tidepool-fake');
  } finally {
    await h.close();
  }
});

test('measureConditionalCreates creates distinct objects and reports a rate', async () => {
  const h = await startHarness();
  try {
    const r = await measureConditionalCreates(h.server.url, { concurrency: 4, count: 200 });
    assert.deepEqual(r.statuses, { '201': 200 });
    assert.ok(r.perSecond > 0);
    assert.equal(h.server.objects('ipallocations').length, 200);
  } finally {
    await h.close();
  }
});

test('hundreds of concurrent requests and many watches', async () => {
  const h = await startHarness();
  try {
    const watches = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${h.server.url}/apis/tidepool.dev/v1alpha1/ipallocations?watch=1&resourceVersion=${h.server.resourceVersion()}&labelSelector=shard%3D${i % 5}`),
      ),
    );
    await until(() => h.server.watchCount() === 50, 'watches');
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => h.raw('POST', '/apis/tidepool.dev/v1alpha1/ipallocations', allocation(`c${i % 250}`, { shard: String(i % 5) }))),
    );
    const codes = results.map((r) => r.status);
    assert.equal(codes.filter((c) => c === 201).length, 250);
    assert.equal(codes.filter((c) => c === 409).length, 50);
    // Each shard's watchers get exactly the 50 objects of their shard.
    const reader = watches[0]!.body!.getReader();
    let text = '';
    while (text.split('\n').length <= 50) text += new TextDecoder().decode((await reader.read()).value);
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(lines.length, 50);
    assert.ok(lines.every((l) => l.type === 'ADDED' && l.object.metadata.labels.shard === '0'));
    await reader.cancel();
    for (const w of watches.slice(1)) await w.body!.cancel();
  } finally {
    await h.close();
  }
});
