import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TIDEPOOL_API_VERSION } from '../api/crd-schemas.ts';
import { createSimApiServer, WATCH_CACHE_LAG_MAX_MS } from './api-server.ts';
import { createChecker } from './invariants.ts';
import { createRng } from './rng.ts';
import { createScheduler } from './scheduler.ts';
import { parseScenario } from './scenario.ts';
import type { Sandbox, SimNode, World } from './world.ts';

const scenario = parseScenario(`
pools: [{ name: lan, subnet: 10.0.0.0/24, ips: [10.0.0.1-10.0.0.9], default: true }]
workloads: [{ kind: Pod, name: p }]
`);

function setup() {
  const sched = createScheduler(Date.UTC(2026, 0, 1));
  const api = createSimApiServer({ sched, rng: createRng(1) });
  api.direct.create('/apis/tidepool.dev/v1alpha1/ippools', { apiVersion: TIDEPOOL_API_VERSION, kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.0.0.0/24', ips: ['10.0.0.1-10.0.0.9'] } });
  let leader: number | undefined = sched.now - 60_000;
  const nodes = new Map<string, SimNode>();
  const world = { nodes, leaderSince: () => leader, pods: () => api.objects('pods') } as unknown as World;
  const checker = createChecker({ scenario, api, world, now: () => sched.now });
  const node = (name: string): SimNode => {
    const n: SimNode = { name, down: false, deleted: false, sandboxes: new Map(), backoff: new Map(), agent: undefined, agentGeneration: 0 };
    nodes.set(name, n);
    return n;
  };
  const pod = (name: string, nodeName: string) =>
    api.direct.create<{ metadata: { uid: string } }>('/api/v1/namespaces/default/pods', { metadata: { name }, spec: { nodeName, containers: [{ name: 'c', image: 'i' }] } }).metadata.uid;
  const sandbox = (n: SimNode, name: string, uid: string, ips: string[]): Sandbox => {
    const sb: Sandbox = { uid, namespace: 'default', name, containerId: `cid-${name}`, netns: `/ns/${name}`, state: 'up', ips, ifnames: ['eth0'] };
    n.sandboxes.set(uid, sb);
    return sb;
  };
  const record = (ip: string, owner?: { podName: string; podUid: string }) =>
    api.direct.create('/apis/tidepool.dev/v1alpha1/ipallocations', {
      apiVersion: TIDEPOOL_API_VERSION,
      kind: 'IPAllocation',
      metadata: { name: `lan.${ip}` },
      spec: { pool: 'lan', ip, ...(owner ? { owner: { podNamespace: 'default', ...owner, node: 'n1', containerId: `cid-${owner.podName}`, ifname: 'eth0', allocatedAt: '2026-01-01T00:00:00.000Z' } } : {}) },
    });
  const advance = async (ms: number) => {
    sched.advanceTo(sched.now + ms);
  };
  return { sched, api, checker, node, pod, sandbox, record, advance, setLeader: (v: number | undefined) => (leader = v) };
}

test('unique-ip: two live sandboxes with one IP; a down node does not count', () => {
  const w = setup();
  const n1 = w.node('n1');
  const n2 = w.node('n2');
  const a = w.pod('a', 'n1');
  const b = w.pod('b', 'n2');
  w.record('10.0.0.5', { podName: 'a', podUid: a });
  w.sandbox(n1, 'a', a, ['lan/10.0.0.5']);
  w.sandbox(n2, 'b', b, ['lan/10.0.0.5']);
  n2.down = true;
  assert.deepEqual(w.checker.afterStep().filter((v) => v.invariant === 'unique-ip'), []);
  n2.down = false;
  const found = w.checker.afterStep().filter((v) => v.invariant === 'unique-ip');
  assert.equal(found.length, 1);
  assert.match(found[0]!.message, /10\.0\.0\.5 is held by two live pods: default\/a on n1 and default\/b on n2/);
});

test('live-pod-keeps-ip: the record must stay with the pod while it lives', () => {
  const w = setup();
  const n1 = w.node('n1');
  const a = w.pod('a', 'n1');
  const b = w.pod('b', 'n1');
  w.sandbox(n1, 'a', a, ['lan/10.0.0.3']);
  w.record('10.0.0.3', { podName: 'a', podUid: a });
  assert.deepEqual(w.checker.afterStep(), []);
  w.api.direct.patch('/apis/tidepool.dev/v1alpha1/ipallocations/lan.10.0.0.3', { spec: { owner: { podName: 'b', podUid: b, containerId: 'cid-b' } } });
  const found = w.checker.afterStep();
  assert.equal(found[0]?.invariant, 'live-pod-keeps-ip');
  assert.match(found[0]!.message, /live pod default\/a .* lost lan\/10\.0\.0\.3: now held by default\/b/);
});

test('leak-bound: an orphaned record must be freed within the bound once a leader runs', async () => {
  const w = setup();
  w.node('n1');
  w.record('10.0.0.4', { podName: 'gone', podUid: 'uid-gone' });
  // docs/gc.md's 2 s, plus the API server's own watch lag, which delays what the controller sees.
  assert.equal(w.checker.bound, 2_000 + WATCH_CACHE_LAG_MAX_MS);
  assert.deepEqual(w.checker.afterStep(), []);
  await w.advance(1_500);
  assert.deepEqual(w.checker.afterStep(), [], 'inside the bound');
  w.setLeader(undefined);
  await w.advance(10_000);
  assert.deepEqual(w.checker.afterStep(), [], 'no leader: nobody can reclaim');
  w.setLeader(w.sched.now);
  await w.advance(6_000);
  assert.deepEqual(w.checker.afterStep(), [], 'a new leader gets its takeover slack');
  await w.advance(2_000);
  const found = w.checker.afterStep();
  assert.equal(found[0]?.invariant, 'leak-bound');
  assert.match(found[0]!.message, /lan\/10\.0\.0\.4 leaked for 19\.5 s \(bound 2\.2 s\): pod default\/gone deleted/);
  assert.equal(w.checker.peakLeaked, 1);
});

test('counts-agree: IPPool status must catch up with the records within its bound', async () => {
  const w = setup();
  w.node('n1');
  const a = w.pod('a', 'n1');
  w.record('10.0.0.2', { podName: 'a', podUid: a });
  w.api.direct.patch('/apis/tidepool.dev/v1alpha1/ippools/lan/status', { status: { allocatedIPCount: 1, totalIPCount: '9' } });
  assert.deepEqual(w.checker.afterStep(), []);
  w.record('10.0.0.6', { podName: 'a', podUid: a });
  await w.advance(2_000);
  assert.deepEqual(w.checker.afterStep(), [], 'the status write is debounced');
  await w.advance(2_000);
  const found = w.checker.afterStep();
  assert.equal(found[0]?.invariant, 'counts-agree');
  assert.match(found[0]!.message, /IPPool lan status says 1 allocated; 2 IPAllocations hold an IP of it/);
});

test('valid-handout: outside the ranges, excluded or reserved is refused; allowed if any version in the window allowed it', async () => {
  const w = setup();
  const n1 = w.node('n1');
  const sb = w.sandbox(n1, 'a', w.pod('a', 'n1'), []);
  assert.deepEqual(w.checker.handout(sb, ['lan/10.0.0.2'], w.sched.now), []);
  assert.match(w.checker.handout(sb, ['lan/10.0.0.200'], w.sched.now)[0]!.message, /outside pool lan's ranges or excluded/);
  await w.advance(60_000);
  const startedAt = w.sched.now;
  await w.advance(10);
  w.api.direct.patch('/apis/tidepool.dev/v1alpha1/ippools/lan', { spec: { excludeIPs: ['10.0.0.3'] } });
  assert.deepEqual(w.checker.handout(sb, ['lan/10.0.0.3'], startedAt), [], 'excluded while the ADD ran: the agent may have used the version before');
  await w.advance(60_000);
  assert.equal(w.checker.handout(sb, ['lan/10.0.0.3'], w.sched.now)[0]?.invariant, 'valid-handout');
  w.api.direct.create('/apis/tidepool.dev/v1alpha1/reservedips', { apiVersion: TIDEPOOL_API_VERSION, kind: 'ReservedIP', metadata: { name: 'r' }, spec: { ips: ['10.0.0.8'] } });
  await w.advance(60_000);
  assert.match(w.checker.handout(sb, ['lan/10.0.0.8'], w.sched.now)[0]!.message, /reserved by a ReservedIP/);
});
