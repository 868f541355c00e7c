// Which state a list or get answers from, per resourceVersion,
// resourceVersionMatch, limit and continue, as the real server decides it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTINUE_EXPIRED } from '../../src/apiserver/list-read.ts';
import { startInProcess } from './in-process.ts';

const PODS = '/api/v1/namespaces/default/pods';
const pod = (name: string) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] } });
const names = (r: { body: any }): string[] => r.body.items.map((o: any) => o.metadata.name);

test('resourceVersion "" is the latest state; "0" is the watch cache\'s, however far it lags, and ignores limit', async () => {
  const s = startInProcess({ watchLag: () => 50 });
  try {
    for (const n of ['a', 'b', 'c']) await s.call('POST', PODS, { body: pod(n) });
    await s.timers.advance(100);
    await s.call('POST', PODS, { body: pod('d') });
    assert.deepEqual(names(await s.call('GET', PODS)), ['a', 'b', 'c', 'd']);
    const any = await s.call('GET', PODS, { query: { resourceVersion: '0', limit: '1' } });
    assert.deepEqual(names(any), ['a', 'b', 'c'], 'the cache has not got d yet; limit is ignored');
    assert.equal(any.body.metadata.continue, undefined);
    assert.equal((await s.call('GET', `${PODS}/d`, { query: { resourceVersion: '0' } })).status, 404, 'a get at "0" reads the cache too');
    await s.timers.advance(100);
    assert.deepEqual(names(await s.call('GET', PODS, { query: { resourceVersion: '0' } })), ['a', 'b', 'c', 'd']);
  } finally {
    s.stop();
  }
});

test('resourceVersion N waits until the cache has N; past 3 s it is 504 Too large resource version (retry after 1 s)', async () => {
  const s = startInProcess({ watchLag: () => 50 });
  try {
    const d = await s.call('POST', PODS, { body: pod('d') });
    const rv = d.body.metadata.resourceVersion;
    const pending = s.call('GET', PODS, { query: { resourceVersion: rv } });
    await s.timers.advance(60);
    const r = await pending;
    assert.deepEqual(names(r), ['d']);
    assert.ok(Number(r.body.metadata.resourceVersion) >= Number(rv));
    const future = String(Number(rv) + 10);
    const late = s.call('GET', PODS, { query: { resourceVersion: future, resourceVersionMatch: 'NotOlderThan' } });
    await s.timers.advance(3_000);
    const tooLarge = await late;
    assert.equal(tooLarge.status, 504);
    assert.equal(tooLarge.body.message, `Too large resource version: ${future}, current: ${rv}`);
    assert.equal(tooLarge.body.details.retryAfterSeconds, 1);
  } finally {
    s.stop();
  }
});

test('resourceVersion N with a limit, or with resourceVersionMatch=Exact, reads exactly N from storage', async () => {
  const s = startInProcess();
  try {
    const a = await s.call('POST', PODS, { body: pod('a') });
    await s.call('POST', PODS, { body: pod('b') });
    const at = a.body.metadata.resourceVersion;
    const exact = await s.call('GET', PODS, { query: { resourceVersion: at, resourceVersionMatch: 'Exact' } });
    assert.deepEqual(names(exact), ['a']);
    assert.equal(exact.body.metadata.resourceVersion, at);
    const legacy = await s.call('GET', PODS, { query: { resourceVersion: at, limit: '10' } });
    assert.deepEqual(names(legacy), ['a'], 'a limit makes N an exact match (the legacy rule)');
    const future = String(s.core.store.resourceVersion + 1);
    const tooLarge = await s.call('GET', PODS, { query: { resourceVersion: future, resourceVersionMatch: 'Exact' } });
    assert.equal(tooLarge.status, 504, 'from storage at once');
    assert.equal(tooLarge.body.details.retryAfterSeconds, undefined, 'storage gives no retry');
  } finally {
    s.stop();
  }
});

test('past the compaction window: an exact read is 410; an old continue token is 410 with a token to go on inconsistently', async () => {
  const s = startInProcess({ historySize: 4 });
  try {
    const a = await s.call('POST', PODS, { body: pod('a') });
    await s.call('POST', PODS, { body: pod('b') });
    const first = await s.call('GET', PODS, { query: { limit: '1' } });
    assert.deepEqual(names(first), ['a']);
    for (let i = 0; i < 100; i++) await s.call('POST', PODS, { body: pod(`z${i}`) });
    const old = await s.call('GET', PODS, { query: { resourceVersion: a.body.metadata.resourceVersion, resourceVersionMatch: 'Exact' } });
    assert.equal(old.status, 410);
    assert.equal(old.body.message, 'The resourceVersion for the provided list is too old.');
    const expired = await s.call('GET', PODS, { query: { limit: '1', continue: first.body.metadata.continue } });
    assert.equal(expired.status, 410);
    assert.equal(expired.body.message, CONTINUE_EXPIRED);
    const next = await s.call('GET', PODS, { query: { limit: '1', continue: expired.body.metadata.continue } });
    assert.deepEqual(names(next), ['b'], 'the token in the 410 continues at the latest state');
  } finally {
    s.stop();
  }
});

test('ListOptions combinations the real server forbids are 422 on ListOptions.meta.k8s.io', async () => {
  const s = startInProcess();
  try {
    const cases: Array<[Record<string, string>, string]> = [
      [{ resourceVersionMatch: 'Exact' }, 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
      [{ resourceVersionMatch: 'Exact', resourceVersion: '0' }, 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
      [{ resourceVersionMatch: 'Newest', resourceVersion: '3' }, 'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'],
      [{ sendInitialEvents: 'true' }, 'sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list'],
    ];
    for (const [query, message] of cases) {
      const r = await s.call('GET', PODS, { query });
      assert.equal(r.status, 422, JSON.stringify(query));
      assert.equal(r.body.message, `ListOptions.meta.k8s.io "" is invalid: ${message}`);
    }
    const watch = await s.call('GET', PODS, { query: { watch: 'true', resourceVersionMatch: 'NotOlderThan', resourceVersion: '1' } });
    assert.equal(watch.body.message, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
  } finally {
    s.stop();
  }
});
