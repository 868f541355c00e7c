import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError, isConflict, isNotFound, type KubeObject, type WatchEvent } from '../k8s/rest.ts';
import { createSimApiServer, NO_FAULTS, type LinkFaults } from './api-server.ts';
import { createRng } from './rng.ts';
import { createScheduler, type Scheduler } from './scheduler.ts';

const PODS = '/api/v1/namespaces/default/pods';
const pod = (name: string, node: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels }, spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] } });

function setup(seed = 1) {
  const sched = createScheduler(Date.UTC(2026, 0, 1));
  const api = createSimApiServer({ sched, rng: createRng(seed) });
  return { sched, api };
}

/** Runs the scheduler until `p` settles, or for at most a minute of virtual time (the server's controllers never idle), and returns its outcome. */
async function settle<T>(sched: Scheduler, p: Promise<T>): Promise<{ value?: T; error?: unknown; done: boolean }> {
  const out: { value?: T; error?: unknown; done: boolean } = { done: false };
  p.then(
    (value) => Object.assign(out, { value, done: true }),
    (error: unknown) => Object.assign(out, { error, done: true }),
  );
  const end = sched.now + 60_000;
  while (!out.done && (await sched.step(end)));
  return out;
}

test('requests take virtual time and return wire copies', async () => {
  const { sched, api } = setup();
  const rest = api.connect('a', NO_FAULTS);
  const t0 = sched.now;
  const created = await settle(sched, rest.create<KubeObject>(PODS, pod('p1', 'n1')));
  assert.ok(sched.now - t0 >= 2, 'a round trip is at least two one-way latencies');
  const obj = created.value!;
  obj.metadata.labels = { changed: 'yes' };
  const read = (await settle(sched, rest.get<KubeObject>(`${PODS}/p1`))).value!;
  assert.deepEqual(read.metadata.labels, {}, 'mutating a response never changes the stored object');
});

test('lists honour label and field selectors; bad selectors and unknown objects are API errors', async () => {
  const { sched, api } = setup();
  api.direct.create(PODS, pod('a', 'n1', { app: 'x' }));
  api.direct.create(PODS, pod('b', 'n2', { app: 'x' }));
  api.direct.create(PODS, pod('c', 'n1', { app: 'y' }));
  const rest = api.connect('a', NO_FAULTS);
  const names = async (q: Record<string, string>) => (await settle(sched, rest.list<KubeObject>(PODS, q))).value!.items.map((p) => p.metadata.name);
  assert.deepEqual(await names({ labelSelector: 'app=x' }), ['a', 'b']);
  assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=n1' }), ['a', 'c']);
  const bad = await settle(sched, rest.list(PODS, { labelSelector: 'app in (' }));
  assert.ok(bad.error instanceof KubeApiError && bad.error.status === 400);
  assert.ok(isNotFound((await settle(sched, rest.get(`${PODS}/nope`))).error));
});

test('a replace at a stale resourceVersion is a 409 Conflict and changes nothing', async () => {
  const { sched, api } = setup();
  const rest = api.connect('a', NO_FAULTS);
  const first = (await settle(sched, rest.create<KubeObject>(PODS, pod('p', 'n1')))).value!;
  await settle(sched, rest.patch(`${PODS}/p`, { metadata: { labels: { v: '2' } } }));
  const stale = await settle(sched, rest.replace(`${PODS}/p`, { ...first, metadata: { ...first.metadata, labels: { v: 'stale' } } }));
  assert.ok(isConflict(stale.error));
  assert.equal(api.direct.get<KubeObject>(`${PODS}/p`)!.metadata.labels!['v'], '2');
});

test('a watch delivers events in commit order, resumes from a resourceVersion, and ends when dropped', async () => {
  const { sched, api } = setup();
  const rest = api.connect('w', { ...NO_FAULTS, watchDelayRate: 1, watchDelayMs: 500 });
  const seen: string[] = [];
  const ended = settle(sched, rest.watch<KubeObject>(PODS, {}, (e: WatchEvent<KubeObject>) => seen.push(`${e.type} ${e.object.metadata.name}`)));
  await sched.step(sched.now + 10);
  for (const name of ['a', 'b', 'c']) api.direct.create(PODS, pod(name, 'n1'));
  api.direct.delete(`${PODS}/b`, { gracePeriodSeconds: 0 });
  while (seen.length < 4 && (await sched.step(sched.now + 5_000)));
  while (seen.length < 5 && (await sched.step(sched.now + 5_000)));
  // A pod deleted with grace 0 is first marked (MODIFIED), then removed.
  assert.deepEqual(seen, ['ADDED a', 'ADDED b', 'ADDED c', 'MODIFIED b', 'DELETED b'], 'delays never reorder one stream');
  assert.equal(api.dropWatches(createRng(3), 5), 1);
  const outcome = await ended;
  assert.ok(outcome.done);
  const rv = api.direct.get<KubeObject>(`${PODS}/a`)!.metadata.resourceVersion!;
  const replay: string[] = [];
  void rest.watch<KubeObject>(PODS, { resourceVersion: rv }, (e) => replay.push(`${e.type} ${e.object.metadata.name}`));
  while (replay.length < 4 && (await sched.step(sched.now + 5_000)));
  assert.deepEqual(replay, ['ADDED b', 'ADDED c', 'MODIFIED b', 'DELETED b']);
});

test('a killed process gets no more answers; what reached the server before the kill is applied', async () => {
  const { sched, api } = setup();
  const rest = api.connect('agent', NO_FAULTS);
  let answered = false;
  const settled = () => void (answered = true);
  rest.create(PODS, pod('p', 'n1')).then(settled, settled);
  // Let the request reach the server, then kill before the answer comes back.
  while (!api.direct.get(`${PODS}/p`) && (await sched.step(sched.now + 10)));
  rest.kill();
  // A second is ample for an answer (and short of the pod GC removing a pod bound to a node that does not exist).
  const end = sched.now + 1_000;
  while (await sched.step(end));
  assert.equal(answered, false, 'the answer never comes');
  assert.ok(api.direct.get(`${PODS}/p`), 'the write itself happened');
  assert.equal((await settle(sched, rest.get(`${PODS}/p`))).done, false);
  assert.ok(rest.dead);
});

test('injected errors: 500, 503, 429 and broken connections, in equal shares, and none applies anything', async () => {
  const { sched, api } = setup();
  api.direct.create(PODS, pod('p', 'n1'));
  const before = api.direct.get<KubeObject>(`${PODS}/p`)!.metadata.resourceVersion;
  const rest = api.connect('x', { ...NO_FAULTS, errorRate: 1 });
  const seen = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const r = await settle(sched, rest.patch(`${PODS}/p`, { metadata: { labels: { x: String(i) } } }));
    assert.ok(r.error instanceof KubeApiError);
    const key = `${r.error.status} ${r.error.reason}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['0 ConnectionFailed', '429 TooManyRequests', '500 InternalError', '503 ServiceUnavailable']);
  for (const [key, n] of seen) assert.ok(n >= 25, `${key}: ${n} of 200`);
  assert.equal(api.direct.get<KubeObject>(`${PODS}/p`)!.metadata.resourceVersion, before, 'nothing written');
});

test('injected faults: conflicts apply nothing, timeouts answer 504 after timeoutMs', async () => {
  const cases: Array<[Partial<LinkFaults>, number, string]> = [
    [{ conflictRate: 1 }, 409, 'Conflict'],
    [{ timeoutRate: 1, timeoutMs: 7_000 }, 504, 'Timeout'],
  ];
  for (const [faults, status, reason] of cases) {
    const { sched, api } = setup();
    api.direct.create(PODS, pod('p', 'n1'));
    const before = api.direct.get<KubeObject>(`${PODS}/p`)!.metadata.resourceVersion;
    const rest = api.connect('x', { ...NO_FAULTS, ...faults });
    const t0 = sched.now;
    const r = await settle(sched, rest.patch(`${PODS}/p`, { metadata: { labels: { x: '1' } } }));
    assert.ok(r.error instanceof KubeApiError, `${reason}: rejected`);
    assert.equal((r.error as KubeApiError).status, status);
    assert.equal((r.error as KubeApiError).reason, reason);
    if (status === 504) assert.ok(sched.now - t0 >= 7_000);
    else assert.equal(api.direct.get<KubeObject>(`${PODS}/p`)!.metadata.resourceVersion, before, `${reason}: nothing written`);
  }
});

test('UIDs and generated names come from the seed', async () => {
  const make = (seed: number) => {
    const { api } = setup(seed);
    return api.direct.create<KubeObject>(PODS, { metadata: { generateName: 'web-' }, spec: { nodeName: 'n', containers: [{ name: 'c', image: 'i' }] } }).metadata;
  };
  assert.deepEqual(make(4), make(4));
  assert.notEqual(make(4).uid, make(5).uid);
  assert.match(make(4).uid ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
});
