import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { ALLOC, allocation, openWatch, pod, startHarness } from './test-helpers.ts';

const ALLOC_PATH = '/apis/tidepool.dev/v1alpha1/ipallocations';

test('watch without resourceVersion sends current objects as ADDED, then live events', async () => {
  const h = await startHarness();
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    const w = await openWatch(h.kc, ALLOC_PATH);
    await w.waitFor(1);
    const b = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('b') });
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'b', body: { ...b, spec: { owner: 'x' } } });
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a' });
    const ev = await w.waitFor(4);
    assert.deepEqual(ev.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'ADDED b', 'MODIFIED b', 'DELETED a']);
    const rvs = ev.slice(1).map((e) => Number(e.object.metadata.resourceVersion));
    assert.deepEqual(rvs, [rvs[0]!, rvs[0]! + 1, rvs[0]! + 2], 'the DELETED event carries the deletion revision');
    assert.equal(ev[1]!.object.kind, 'IPAllocation');
    w.abort();
  } finally {
    await h.close();
  }
});

test('watch from a resourceVersion replays what happened after it', async () => {
  const h = await startHarness();
  try {
    const a = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('b') });
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('other-kind') });
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a' });
    const w = await openWatch(h.kc, ALLOC_PATH, { resourceVersion: a.metadata.resourceVersion });
    const ev = await w.waitFor(2);
    assert.deepEqual(ev.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b', 'DELETED a']);
    w.abort();
  } finally {
    await h.close();
  }
});

test('watch from a resourceVersion older than the watch cache window gets ERROR 410 Expired and is closed', async () => {
  const h = await startHarness({ watchCache: { history: { lower: 8, upper: 8, freshMs: 0 } } });
  try {
    const first = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('first') });
    for (let i = 0; i < 200; i++) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(`n${i}`) });
    const w = await openWatch(h.kc, ALLOC_PATH, { resourceVersion: first.metadata.resourceVersion });
    const [e] = await w.waitFor(1);
    assert.equal(e!.type, 'ERROR');
    assert.equal(e!.object.code, 410);
    assert.equal(e!.object.reason, 'Expired');
    assert.match(e!.object.message, /^too old resource version: /);
    assert.equal(await w.done, null, 'the stream ends');
  } finally {
    await h.close();
  }
});

test('label selector transitions: leaving is DELETED, entering is ADDED', async () => {
  const h = await startHarness();
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('x', { pool: 'a' }) });
    const w = await openWatch(h.kc, ALLOC_PATH, { labelSelector: 'pool=a' });
    await w.waitFor(1);
    const cur = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'x' });
    const moved = await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'x', body: { ...cur, metadata: { ...cur.metadata, labels: { pool: 'b' } } } });
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'x', body: { ...moved, spec: { other: 1 } } });
    const back = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'x' });
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'x', body: { ...back, metadata: { ...back.metadata, labels: { pool: 'a' } } } });
    const ev = await w.waitFor(3);
    assert.deepEqual(ev.map((e) => e.type), ['ADDED', 'DELETED', 'ADDED']);
    assert.deepEqual(ev[1]!.object.metadata.labels, { pool: 'a' }, 'DELETED carries the last matching content');
    assert.equal(ev[1]!.object.metadata.resourceVersion, moved.metadata.resourceVersion, '... at the revision of the change');
    assert.equal(w.events.length, 3, 'the change while not matching was not delivered');
    w.abort();
  } finally {
    await h.close();
  }
});

test('namespaced and field-selected watches see only their objects', async () => {
  const h = await startHarness();
  try {
    const w = await openWatch(h.kc, '/api/v1/pods', { fieldSelector: 'spec.nodeName=n1' });
    const ns = await openWatch(h.kc, '/api/v1/namespaces/kube-system/pods');
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('a', { nodeName: 'n2' }) });
    await h.core.createNamespacedPod({ namespace: 'default', body: pod('b', { nodeName: 'n1' }) });
    await h.core.createNamespacedPod({ namespace: 'kube-system', body: pod('c', { nodeName: 'n1' }) });
    assert.deepEqual((await w.waitFor(2)).map((e) => e.object.metadata.name), ['b', 'c']);
    assert.deepEqual((await ns.waitFor(1)).map((e) => e.object.metadata.name), ['c']);
    w.abort();
    ns.abort();
  } finally {
    await h.close();
  }
});

test('bookmarks only when allowed; timeoutSeconds ends the stream', async () => {
  const h = await startHarness();
  try {
    const with_ = await openWatch(h.kc, ALLOC_PATH, { allowWatchBookmarks: true, resourceVersion: h.server.resourceVersion() });
    const without = await openWatch(h.kc, ALLOC_PATH, { resourceVersion: h.server.resourceVersion() });
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    await with_.waitFor(1);
    await without.waitFor(1);
    assert.equal(h.server.sendBookmarks(), 1);
    const [, bm] = await with_.waitFor(2);
    assert.equal(bm!.type, 'BOOKMARK');
    assert.equal(bm!.object.metadata.resourceVersion, h.server.resourceVersion());
    assert.equal(bm!.object.kind, 'IPAllocation');
    with_.abort();
    without.abort();
    // A real one-second timeout on loopback: the bounded wait is for the server's close.
    const timed = await openWatch(h.kc, ALLOC_PATH, { timeoutSeconds: 1, resourceVersion: h.server.resourceVersion() });
    const started = Date.now();
    assert.equal(await timed.done, null);
    assert.ok(Date.now() - started >= 900);
  } finally {
    await h.close();
  }
});

test('raw watch stream is chunked newline-delimited JSON', async () => {
  const h = await startHarness();
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    const res = await fetch(`${h.server.url}${ALLOC_PATH}?watch=1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('transfer-encoding'), 'chunked');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n')) text += new TextDecoder().decode((await reader.read()).value);
    const line = JSON.parse(text.split('\n')[0]!);
    assert.equal(line.type, 'ADDED');
    assert.equal(line.object.metadata.name, 'a');
    await reader.cancel();
    const legacy = await fetch(`${h.server.url}/apis/tidepool.dev/v1alpha1/watch/ipallocations/a`);
    const r2 = legacy.body!.getReader();
    const chunk = new TextDecoder().decode((await r2.read()).value);
    assert.equal(JSON.parse(chunk.split('\n')[0]!).object.metadata.name, 'a');
    await r2.cancel();
  } finally {
    await h.close();
  }
});

test('informer survives dropWatches and a 410 by relisting', async () => {
  const h = await startHarness({ watchCache: { history: { lower: 4, upper: 4, freshMs: 0 } } });
  try {
    const listFn = () => h.custom.listClusterCustomObject({ ...ALLOC }) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
    const informer = k8s.makeInformer(h.kc, ALLOC_PATH, listFn);
    const seen: string[] = [];
    let wake: (() => void) | undefined;
    const until = async (pred: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!pred()) {
        assert.ok(Date.now() < deadline, `timed out; seen ${JSON.stringify(seen)}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
    };
    informer.on('add', (o) => {
      seen.push(`add ${o.metadata?.name}`);
      wake?.();
    });
    informer.on('delete', (o) => {
      seen.push(`delete ${o.metadata?.name}`);
      wake?.();
    });
    await informer.start();
    await until(() => h.server.watchCount() === 1);
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('one') });
    await until(() => seen.includes('add one'));
    assert.equal(h.server.dropWatches(), 1);
    await until(() => h.server.watchCount() === 1);
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('two') });
    await until(() => seen.includes('add two'));
    // Drop the watch and overflow the history: the informer's resume gets 410 and relists.
    const stats0 = h.server.stats().requests.list?.['ipallocations'] ?? 0;
    await informer.stop();
    for (let i = 0; i < 100; i++) await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(`bulk${i}`) });
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'one' });
    await informer.start();
    await until(() => informer.list().length === 101);
    assert.ok((h.server.stats().requests.list?.['ipallocations'] ?? 0) > stats0);
    await informer.stop();
  } finally {
    await h.close();
  }
});

test('injectFault tooLargeResourceVersion: reads at a resourceVersion get what a lagging replica answers; consistent reads do not', async () => {
  const h = await startHarness();
  try {
    const a = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    const rv = Number(a.metadata.resourceVersion);
    const lagging = h.server.injectFault({ resource: 'ipallocations', tooLargeResourceVersion: true });
    const status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `Too large resource version: ${rv}, current: ${rv - 1}`,
      reason: 'Timeout',
      details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
      code: 504,
    };
    const watch = await h.raw('GET', `${ALLOC_PATH}?watch=true&resourceVersion=${rv}`);
    assert.equal(watch.status, 200);
    assert.deepEqual(JSON.parse(watch.text), { type: 'ERROR', object: status });
    const list = await h.raw('GET', `${ALLOC_PATH}?resourceVersion=${rv}`);
    assert.equal(list.status, 504);
    assert.deepEqual(list.body, status);
    assert.equal(lagging.hits, 2);
    assert.equal((await h.raw('GET', ALLOC_PATH)).status, 200, 'a list without resourceVersion is a consistent read');
    assert.equal((await h.raw('GET', `${ALLOC_PATH}?resourceVersion=0`)).status, 200, 'resourceVersion 0 accepts any state');
    assert.equal((await h.raw('GET', `${ALLOC_PATH}/a`)).status, 200);
    assert.equal(lagging.hits, 2);
  } finally {
    await h.close();
  }
});
