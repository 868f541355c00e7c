// Watches and reads as an etcd-backed server with a watch cache serves
// them: events follow the write's response after a lag, each resource has
// its own history window, a watch from a revision not yet reached waits for
// it, bookmarks come periodically and before the timeout, watch-lists end
// their initial events with a bookmark.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcess } from './in-process.ts';

const PODS = '/api/v1/namespaces/default/pods';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
const pod = (name: string) => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] } });
const lease = (name: string) => ({ metadata: { name }, spec: {} });

test('a watch event is delivered after the write has been answered, once the cache has it', async () => {
  const s = startInProcess({ watchLag: () => 30 });
  try {
    const w = await s.watch(PODS, { resourceVersion: String(s.core.store.resourceVersion) });
    const created = await s.call('POST', PODS, { body: pod('p') });
    assert.equal(created.status, 201);
    assert.equal(w.events.length, 0, 'the answer comes first');
    await s.timers.advance(29);
    assert.equal(w.events.length, 0, 'still in flight from storage to the cache');
    await s.timers.advance(1);
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED']);
  } finally {
    s.stop();
  }
});

test('events keep their order whatever lag each one draws', async () => {
  const lags = [50, 1, 30, 2];
  const s = startInProcess({ watchLag: () => lags.shift() ?? 1 });
  try {
    const w = await s.watch(PODS, { resourceVersion: String(s.core.store.resourceVersion) });
    for (const name of ['a', 'b', 'c', 'd']) await s.call('POST', PODS, { body: pod(name) });
    await s.timers.advance(100);
    assert.deepEqual(w.events.map((e) => e.object.metadata.name), ['a', 'b', 'c', 'd']);
  } finally {
    s.stop();
  }
});

test('each resource has its own window: a busy one expires old revisions, a quiet one still serves them', async () => {
  const s = startInProcess({ watchCache: { history: { lower: 4, upper: 4, freshMs: 0 } } });
  try {
    const before = String(s.core.store.resourceVersion);
    await s.call('POST', LEASES, { body: lease('quiet') });
    for (let i = 0; i < 10; i++) await s.call('POST', PODS, { body: pod(`p${i}`) });
    await s.timers.advance(100);
    const pods = await s.watch(PODS, { resourceVersion: before });
    assert.equal(pods.events[0]?.type, 'ERROR');
    assert.equal(pods.events[0]!.object.code, 410);
    assert.match(pods.events[0]!.object.message, /^too old resource version: \d+ \(\d+\)$/);
    const leases = await s.watch(LEASES, { resourceVersion: before });
    assert.deepEqual(leases.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED quiet']);
  } finally {
    s.stop();
  }
});

test('the window grows while its events are younger than the fresh duration', async () => {
  const s = startInProcess({ watchCache: { history: { lower: 4, upper: 64, freshMs: 75_000 } } });
  try {
    const before = String(s.core.store.resourceVersion);
    for (let i = 0; i < 20; i++) await s.call('POST', PODS, { body: pod(`p${i}`) });
    await s.timers.advance(100);
    const w = await s.watch(PODS, { resourceVersion: before });
    assert.equal(w.events.length, 20, 'all twenty writes of the last second are still served');
  } finally {
    s.stop();
  }
});

test('a watch from a revision the server has not reached is accepted and waits for it; bookmarks never go below it', async () => {
  const s = startInProcess();
  try {
    const future = s.core.store.resourceVersion + 2;
    const w = await s.watch(PODS, { resourceVersion: String(future), allowWatchBookmarks: 'true' });
    assert.equal(w.ended, false);
    assert.equal(s.core.watchCache.sendBookmarks(), 0, 'no bookmark below the watch\'s revision');
    for (const name of ['a', 'b', 'c']) await s.call('POST', PODS, { body: pod(name) });
    await s.timers.advance(100);
    assert.deepEqual(w.events.map((e) => e.object.metadata.name), ['c'], 'only what follows the revision asked for');
  } finally {
    s.stop();
  }
});

test('bookmarks: every minute to watches that allow them, and two seconds before the watch times out', async () => {
  const s = startInProcess();
  try {
    const withMarks = await s.watch(PODS, { allowWatchBookmarks: 'true', timeoutSeconds: '150' });
    const without = await s.watch(PODS, { timeoutSeconds: '150' });
    await s.timers.advance(60_000);
    assert.deepEqual(withMarks.events.map((e) => e.type), ['BOOKMARK']);
    assert.equal(withMarks.events[0]!.object.metadata.resourceVersion, String(s.core.store.resourceVersion));
    await s.timers.advance(88_000);
    assert.equal(withMarks.events.length, 3, 'at 60 s, 120 s and 148 s');
    assert.equal(without.events.length, 0);
  } finally {
    s.stop();
  }
});

test('a watch without timeoutSeconds gets one of 30 to 60 minutes, as the real server picks', async () => {
  const s = startInProcess({ randomInt: (n) => n - 1 });
  try {
    assert.equal(s.core.watchCache.watchTimeoutMs(undefined), 3_600_000 - 1);
    assert.equal(s.core.watchCache.watchTimeoutMs(300), 300_000);
  } finally {
    s.stop();
  }
});

test('watch-list: the initial events, then a bookmark marking their end', async () => {
  const s = startInProcess();
  try {
    await s.call('POST', PODS, { body: pod('a') });
    const pending = s.watch(PODS, { sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan', allowWatchBookmarks: 'true' });
    await s.timers.advance(10);
    const w = await pending;
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'BOOKMARK'], 'a consistent read: it waited for the cache to have pod a');
    assert.deepEqual(w.events[1]!.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
    const invalid = await s.call('GET', PODS, { query: { watch: 'true', sendInitialEvents: 'true' } });
    assert.equal(invalid.status, 422);
    assert.equal(invalid.body.message, 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
  } finally {
    s.stop();
  }
});

test('watch-list at a revision the cache does not reach within 3 s: ERROR 504 Too large resource version', async () => {
  const s = startInProcess();
  try {
    const future = s.core.store.resourceVersion + 5;
    const pending = s.watch(PODS, { sendInitialEvents: 'true', resourceVersionMatch: 'NotOlderThan', resourceVersion: String(future) });
    await s.timers.advance(3_000);
    const w = await pending;
    assert.equal(w.events.length, 1);
    assert.deepEqual(w.events[0]!.object, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `Too large resource version: ${future}, current: ${future - 5}`,
      reason: 'Timeout',
      details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
      code: 504,
    });
  } finally {
    s.stop();
  }
});
