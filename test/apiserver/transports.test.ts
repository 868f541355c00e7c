// The API server's two transports give the same answers. One table of
// requests (reads, writes, errors, selectors, patches, paging, deletes,
// discovery, watches and their errors) runs through tidepool's KubeRest
// over the HTTP front and through the simulator's in-process link, each
// with its own server built from the same seed and clock; every answer must
// be equal, except for the verb each client prefixes its messages with.
// A second table sends raw requests the KubeRest client cannot express
// (YAML, strategic merge, unsupported media types, collections, wrong
// methods) over HTTP and straight to a router, and compares the bytes'
// meaning: status, content type and body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import type { ApiRequest, ApiResponse } from '../../src/apiserver/request.ts';
import { ADMIN, createApiServer } from '../../src/apiserver/server.ts';
import { installTidepoolCrds } from '../../src/apiserver/tidepool-kinds.ts';
import { createKubeRest, KubeApiError, type KubeList, type KubeObject, type KubeRest, type WatchEvent } from '../../src/k8s/rest.ts';
import { createSimApiServer, NO_FAULTS, seededIdentities } from '../../src/sim/api-server.ts';
import { createRng } from '../../src/sim/rng.ts';
import { createScheduler, type Scheduler } from '../../src/sim/scheduler.ts';
import { createFakeApiServer, servedKinds, type FakeApiServer } from './server.ts';

const EPOCH = Date.UTC(2026, 0, 1);
const NAMESPACES = ['default', 'kube-system'];
const HISTORY = 20;
/** The same small watch cache window on both sides, so a watch from an old revision gets 410 on both. */
const WATCH_CACHE = { history: { lower: HISTORY, upper: HISTORY, freshMs: 0 } };
/**
 * No controllers: each side would run them on its own clock (real timers over HTTP, virtual time
 * in the simulator), so what they had done by the time of a request would differ.
 */
const NO_CONTROLLERS = { garbageCollector: false, namespace: false, podGc: false } as const;
const NS = '/api/v1/namespaces/team';
const PODS = `${NS}/pods`;
const ALLOCS = '/apis/tidepool.dev/v1alpha1/ipallocations';
const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';

const pod = (name: string, node: string | undefined, labels: Record<string, string>) => ({ metadata: { name, labels }, spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'c', image: 'registry.example/app:1' }] } });
const allocation = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPAllocation', metadata: { name }, spec: { pool: 'p', ip: '10.0.0.1' }, ...extra });

/** One side of the comparison: a KubeRest, and a way to let time pass until something is true. */
interface Side {
  readonly rest: KubeRest;
  until(what: string, pred: () => boolean): Promise<void>;
}

/** The simulator's link, driven: each call steps virtual time until it settles. */
function simSide(): Side & { sched: Scheduler } {
  const sched = createScheduler(EPOCH);
  const api = createSimApiServer({ sched, rng: createRng(1), historySize: HISTORY, watchCache: WATCH_CACHE, controllers: NO_CONTROLLERS });
  const link = api.connect('equivalence', NO_FAULTS);
  async function drive<T>(p: Promise<T>): Promise<T> {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    while (!done && (await sched.step(sched.now + 120_000)));
    return p;
  }
  const rest: KubeRest = {
    get: (path, query) => drive(link.get(path, query)),
    list: (path, query) => drive(link.list(path, query)),
    create: (path, body) => drive(link.create(path, body)),
    replace: (path, body) => drive(link.replace(path, body)),
    patch: (path, body, type) => drive(link.patch(path, body, type)),
    delete: (path, options) => drive(link.delete(path, options)),
    watch: (path, query, onEvent, signal) => link.watch(path, query, onEvent, signal),
    close: () => link.close(),
  };
  return {
    sched,
    rest,
    async until(what, pred) {
      while (!pred()) {
        if (await sched.step(sched.now + 120_000)) continue;
        // Nothing is due: let promise continuations run once more before giving up.
        await new Promise((r) => setImmediate(r));
        if (!pred()) assert.fail(`simulator: nothing left to run while waiting for ${what}`);
      }
    },
  };
}

/** The HTTP front, on the same virtual clock and seeded identities as the simulator's server. */
async function httpSide(sched: Scheduler): Promise<Side & { server: FakeApiServer }> {
  const server = await createFakeApiServer({ now: () => new Date(sched.now), ...seededIdentities(createRng(1).fork('api')), historySize: HISTORY, watchCache: WATCH_CACHE, controllers: NO_CONTROLLERS, namespaces: NAMESPACES });
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  const rest = await createKubeRest(kc);
  return {
    server,
    rest,
    async until(what, pred) {
      const deadline = Date.now() + 5000;
      while (!pred()) {
        assert.ok(Date.now() < deadline, `HTTP: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

type Outcome = { value: unknown } | { error: { status: number; reason: string; message: string; details: unknown } };

async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { value: await run() };
  } catch (e) {
    if (!(e instanceof KubeApiError)) throw e;
    // Each client prefixes the server's message with its own name for the request (`POST /x:` or `create /x:`).
    return { error: { status: e.status, reason: e.reason, message: e.message.replace(/^\S+ \S+: /, ''), details: e.details } };
  }
}

/** Opens a watch, runs `writes`, and collects events until `count` arrived or the stream ended. */
async function watchWhile(side: Side, path: string, query: Record<string, string>, count: number, writes: () => Promise<unknown> = async () => {}): Promise<unknown> {
  const events: WatchEvent<KubeObject>[] = [];
  const abort = new AbortController();
  let ended: Outcome | undefined;
  void outcome(() => side.rest.watch<KubeObject>(path, query, (e) => events.push(e), abort.signal)).then((o) => (ended = o));
  await writes();
  await side.until(`${count} events on ${path}`, () => events.length >= count || ended !== undefined);
  abort.abort();
  await side.until(`the watch on ${path} to end`, () => ended !== undefined);
  return { events, ended };
}

type Memo = Record<string, KubeObject>;
const rv = (o: { metadata: { resourceVersion?: string } }): string => o.metadata.resourceVersion ?? '';

const steps: Array<[string, (s: Side, m: Memo) => Promise<unknown>]> = [
  ['create a namespace', (s) => s.rest.create('/api/v1/namespaces', { metadata: { name: 'team' } })],
  ['create pods', async (s, m) => [(m['a'] = await s.rest.create(PODS, pod('a', 'n1', { app: 'x' }))), await s.rest.create(PODS, pod('b', 'n2', { app: 'y' }))]],
  ['create with generateName', (s) => s.rest.create(PODS, { metadata: { generateName: 'web-' }, spec: { containers: [{ name: 'c', image: 'i' }] } })],
  ['create: already exists', (s) => s.rest.create(PODS, pod('a', 'n1', {}))],
  ['create: invalid name and label', (s) => s.rest.create(PODS, pod('Bad_Name', undefined, { 'x/y/z': 'v' }))],
  ['create: missing namespace', (s) => s.rest.create('/api/v1/namespaces/nowhere/pods', pod('p', undefined, {}))],
  ['create: custom resource without kind', (s) => s.rest.create(ALLOCS, { apiVersion: 'tidepool.dev/v1alpha1', metadata: { name: 'x' } })],
  ['create custom resources', async (s, m) => [(m['alloc'] = await s.rest.create(ALLOCS, allocation('p.10-0-0-1'))), await s.rest.create(POOLS, { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'p' }, spec: { subnet: '10.0.0.0/24' }, status: { ignored: true } })]],
  ['create an Event in the wrong namespace', (s) => s.rest.create('/api/v1/namespaces/default/events', { metadata: { name: 'e' }, involvedObject: { kind: 'Pod', namespace: 'team', name: 'a' }, reason: 'R' })],
  ['get', (s) => s.rest.get(`${PODS}/a`)],
  ['get: not found, core and custom', async (s) => [await outcome(() => s.rest.get(`${PODS}/nope`)), await outcome(() => s.rest.get(`${ALLOCS}/nope`))]],
  ['wrong group or version', async (s) => [await outcome(() => s.rest.get(`/apis/tidepool.dev/v1/ipallocations/p.10-0-0-1`)), await outcome(() => s.rest.list('/apis/apps/v1/namespaces/team/pods'))]],
  ['list with a label selector', (s) => s.rest.list(PODS, { labelSelector: 'app in (x,z),!gone' })],
  ['list with a field selector', (s) => s.rest.list(PODS, { fieldSelector: 'spec.nodeName=n2' })],
  ['list in every namespace', (s) => s.rest.list('/api/v1/pods')],
  ['list: malformed label selector', (s) => s.rest.list(PODS, { labelSelector: 'app in (' })],
  ['list: unsupported field selector', async (s) => [await outcome(() => s.rest.list(PODS, { fieldSelector: 'spec.color=red' })), await outcome(() => s.rest.list(ALLOCS, { fieldSelector: 'spec.pool=p' }))]],
  [
    'list in pages',
    async (s) => {
      const first = await s.rest.list<KubeObject>(PODS, { limit: 1 });
      return [first, await s.rest.list(PODS, { continue: first.metadata.continue ?? '' })];
    },
  ],
  ['merge patch', (s) => s.rest.patch(`${PODS}/a`, { metadata: { labels: { tier: 'web' } } })],
  ['JSON patch', (s) => s.rest.patch(`${PODS}/b`, [{ op: 'add', path: '/metadata/annotations', value: { note: 'n' } }], 'json')],
  ['JSON patch: failed test', (s) => s.rest.patch(`${PODS}/b`, [{ op: 'test', path: '/metadata/name', value: 'x' }], 'json')],
  ['JSON patch: not a patch document', (s) => s.rest.patch(`${PODS}/b`, { op: 'add' }, 'json')],
  ['merge patch: an immutable pod field', (s) => s.rest.patch(`${PODS}/b`, { spec: { nodeName: 'n9' } })],
  ['status subresource', async (s) => [await s.rest.patch(`${POOLS}/p/status`, { status: { allocatedIPCount: 3 } }), await s.rest.patch(`${POOLS}/p`, { status: { allocatedIPCount: 9 } })]],
  ['replace: stale resourceVersion', (s, m) => s.rest.replace(`${ALLOCS}/p.10-0-0-1`, { ...m['alloc'], metadata: { ...m['alloc']!.metadata, resourceVersion: '1' } })],
  ['replace: custom resource without resourceVersion', (s, m) => s.rest.replace(`${ALLOCS}/p.10-0-0-1`, { ...m['alloc'], metadata: { name: 'p.10-0-0-1' } })],
  ['replace', (s, m) => s.rest.replace(`${ALLOCS}/p.10-0-0-1`, { ...m['alloc'], spec: { pool: 'p', ip: '10.0.0.1', owner: { pod: 'a' } } })],
  ['discovery', async (s) => [await s.rest.get('/apis/tidepool.dev/v1alpha1'), await s.rest.get('/version'), await outcome(() => s.rest.get('/apis/kubevirt.io/v1'))]],
  [
    'watch: selector semantics, replayed from a list',
    async (s) => {
      const list = await s.rest.list<KubeObject>(PODS);
      return watchWhile(s, PODS, { labelSelector: 'app=x', resourceVersion: rv(list) }, 3, async () => {
        await s.rest.create(PODS, pod('c', 'n1', { app: 'x' }));
        await s.rest.patch(`${PODS}/b`, { metadata: { labels: { app: 'x' } } });
        await s.rest.patch(`${PODS}/a`, { metadata: { labels: { app: 'z' } } });
      });
    },
  ],
  ['watch: without resourceVersion, the current objects first', (s) => watchWhile(s, ALLOCS, {}, 1)],
  ['watch: malformed selector', (s) => watchWhile(s, PODS, { labelSelector: '=x' }, 1)],
  // Accepted, as the real watch cache accepts it: it waits for that revision, here until its timeout.
  ['watch: resourceVersion newer than the server', (s) => watchWhile(s, PODS, { resourceVersion: '999999', timeoutSeconds: '1' }, 1)],
  ['watch: the server ends it after timeoutSeconds', (s, m) => watchWhile(s, `${PODS}`, { resourceVersion: rv(m['a']!), timeoutSeconds: '1', fieldSelector: 'metadata.name=nothing' }, 1)],
  ['delete: UID precondition', (s) => s.rest.delete(`${PODS}/b`, { preconditions: { uid: 'not-this-one' } })],
  ['delete a bound pod: graceful, then final', async (s) => [await s.rest.delete(`${PODS}/b`), await s.rest.delete(`${PODS}/b`, { gracePeriodSeconds: 0 })]],
  ['delete a built-in object answers a Status', async (s) => [await s.rest.create('/apis/coordination.k8s.io/v1/namespaces/team/leases', { metadata: { name: 'l' } }), await s.rest.delete('/apis/coordination.k8s.io/v1/namespaces/team/leases/l')]],
  ['delete a namespace and its content', async (s) => [await s.rest.delete(NS), await outcome(() => s.rest.get(NS)), await s.rest.list('/api/v1/pods')]],
  [
    'watch: from a resourceVersion the history no longer holds',
    async (s, m) => {
      let last: KubeObject | undefined;
      for (let i = 0; i < 90; i++) last = await s.rest.patch(`${ALLOCS}/p.10-0-0-1`, { metadata: { labels: { n: String(i) } } });
      // A list not older than the last write returns once the watch cache has it, so both windows end alike.
      await s.rest.list(ALLOCS, { resourceVersion: rv(last!) });
      return watchWhile(s, ALLOCS, { resourceVersion: rv(m['alloc']!) }, 1);
    },
  ],
];

test('the HTTP front and the in-process link answer every request of the table alike', async () => {
  const sim = simSide();
  const http = await httpSide(sim.sched);
  try {
    const memo: [Memo, Memo] = [{}, {}];
    for (const [name, step] of steps) {
      const viaHttp = await outcome(() => step(http, memo[0]));
      const viaSim = await outcome(() => step(sim, memo[1]));
      assert.deepEqual(viaSim, viaHttp, name);
    }
  } finally {
    http.rest.close();
    await http.server.close();
  }
});

// ---- raw requests: HTTP front versus the router itself ----

const raw = (method: string, path: string, body?: string, contentType = 'application/json'): ApiRequest => {
  const url = new URL(path, 'http://x');
  // fetch's User-Agent, which names the field manager of the writes sent over HTTP.
  return { method, path: url.pathname, query: url.searchParams, contentType: body === undefined ? '' : contentType, body: { bytes: Buffer.from(body ?? '') }, userAgent: 'node' };
};

const rawRequests: Array<[string, ApiRequest]> = [
  ['create from YAML', raw('POST', '/api/v1/namespaces/default/pods', 'metadata:\n  name: y\n  labels: {app: x}\nspec:\n  containers: [{name: c, image: i}]\n', 'application/yaml')],
  ['broken JSON', raw('POST', '/api/v1/namespaces/default/pods', '{"metadata":')],
  ['strategic merge patch of a built-in kind', raw('PATCH', '/api/v1/namespaces/default/pods/y', '{"metadata":{"labels":{"tier":"db"}}}', 'application/strategic-merge-patch+json')],
  ['strategic merge patch of a custom resource', raw('PATCH', `${POOLS}/p`, '{}', 'application/strategic-merge-patch+json')],
  ['server-side apply', raw('PATCH', '/api/v1/namespaces/default/pods/y', '{}', 'application/apply-patch+yaml')],
  ['unknown media type', raw('POST', '/api/v1/namespaces/default/pods', 'x', 'text/plain')],
  ['create a namespaced kind without a namespace', raw('POST', '/api/v1/pods', '{}')],
  ['dryRun', raw('POST', '/api/v1/namespaces/default/pods?dryRun=All', '{}')],
  ['a subresource the kind does not have', raw('GET', '/api/v1/namespaces/default/pods/y/scale')],
  ['binding', raw('POST', '/api/v1/namespaces/default/pods/y/binding', '{"target":{"name":"n2"}}')],
  ['deletecollection with a selector', raw('DELETE', '/api/v1/namespaces/default/pods?labelSelector=app%3Dx&gracePeriodSeconds=0')],
  ['legacy watch path with a bad resourceVersion', raw('GET', '/api/v1/watch/namespaces/default/pods?resourceVersion=abc')],
  ['exact list at a future resourceVersion', raw('GET', '/api/v1/pods?resourceVersion=999&resourceVersionMatch=Exact')],
  ['continue together with resourceVersion', raw('GET', '/api/v1/pods?continue=abc&resourceVersion=1')],
  ['health', raw('GET', '/healthz')],
  ['discovery', raw('GET', '/apis')],
  ['unknown path', raw('GET', '/apis/example.com')],
];

test('raw requests get the same status, content type and body over HTTP as from the router itself', async () => {
  let now = EPOCH;
  const server = await createFakeApiServer({ now: () => new Date(now), ...seededIdentities(createRng(2)), namespaces: NAMESPACES });
  const core = createApiServer({
    now: () => new Date(now),
    ...seededIdentities(createRng(2)),
    namespaces: NAMESPACES,
    kinds: servedKinds([]),
    address: () => `127.0.0.1:${server.port}`,
  });
  installTidepoolCrds(core.router, ADMIN);
  try {
    const pool = JSON.stringify({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'p' }, spec: { subnet: '10.0.0.0/24' } });
    for (const [name, req] of [['create a pool', raw('POST', POOLS, pool)] as const, ...rawRequests]) {
      now += 1000;
      const body = req.body && 'bytes' in req.body ? Buffer.from(req.body.bytes) : undefined;
      const res = await fetch(server.url + req.path + (req.query.size ? `?${req.query}` : ''), { method: req.method, ...(body?.length ? { body, headers: { 'content-type': req.contentType } } : {}) });
      const text = await res.text();
      const viaHttp = { status: res.status, type: res.headers.get('content-type'), body: res.headers.get('content-type') === 'application/json' ? JSON.parse(text) : text };
      const direct = (await core.router.handle(req)) as ApiResponse;
      assert.equal(direct.kind, 'response', name);
      const viaRouter = { status: direct.status, type: direct.headers['content-type'], body: typeof direct.body === 'string' ? direct.body : JSON.parse(JSON.stringify(direct.body)) };
      assert.deepEqual(viaRouter, viaHttp, name);
    }
    const lists = [server.objects('pods'), core.registry.lookup('pods').objects.size];
    assert.deepEqual(lists, [[], 0], 'deletecollection removed the pod on both');
  } finally {
    await server.close();
  }
});

test('a list answer through the link is the wire form: no kind on built-in items, kind on custom resources', async () => {
  const sim = simSide();
  await sim.rest.create(PODS.replace('team', 'default'), pod('p', undefined, {}));
  const pods = await sim.rest.list<KubeObject>('/api/v1/namespaces/default/pods');
  assert.equal((pods as KubeList<KubeObject> & { kind?: string }).kind, 'PodList');
  assert.equal(pods.items[0]!.kind, undefined);
});
