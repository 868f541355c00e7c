import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_GC_CONFIG, planGcVerdict, type GcConfig, type GcPod, type GcRecord, type GcVerdict, type GcView } from './gc-rules.ts';

const NOW = 1_000_000;

interface World {
  pods?: Record<string, GcPod | 'unknown'>;
  nodes?: Record<string, { ready: boolean; changedAt?: number } | 'unknown'>;
  sts?: Record<string, { replicas: number; deleting: boolean } | 'unknown'>;
  vms?: Record<string, { deleting: boolean } | 'unknown'>;
  launchers?: Record<string, GcPod[] | 'unknown'>;
  pools?: string[] | 'unknown';
}

function view(w: World): GcView {
  return {
    pod: (ns, name) => w.pods?.[`${ns}/${name}`],
    node: (name) => w.nodes?.[name],
    statefulSet: (ns, name) => w.sts?.[`${ns}/${name}`],
    virtualMachine: (ns, name) => w.vms?.[`${ns}/${name}`],
    vmLaunchers: (ns, name) => w.launchers?.[`${ns}/${name}`] ?? [],
    poolExists: (name) => (w.pools === 'unknown' ? 'unknown' : (w.pools ?? ['lan']).includes(name)),
  };
}

const rec = (over: Partial<GcRecord> = {}): GcRecord => ({ pool: 'lan', ip: '10.0.0.5', node: 'n1', podNamespace: 'default', podName: 'web', podUid: 'u1', allocatedAt: 10, ...over });
const running: GcPod = { uid: 'u1', phase: 'Running', hostNetwork: false };
const readyNode = { n1: { ready: true } };

describe('planGcVerdict (table)', () => {
  const cases: Array<{ name: string; record?: Partial<GcRecord>; world: World; config?: Partial<GcConfig>; want: GcVerdict | { action: 'keep' } }> = [
    { name: 'running pod: keep', world: { pods: { 'default/web': running }, nodes: readyNode }, want: { action: 'keep' } },
    { name: 'pending pod: keep', world: { pods: { 'default/web': { ...running, phase: 'Pending' } }, nodes: readyNode }, want: { action: 'keep' } },
    { name: 'running pod without podIPs yet: keep', world: { pods: { 'default/web': { ...running, phase: 'Running' } }, nodes: readyNode }, want: { action: 'keep' } },
    { name: 'hostNetwork pod: keep even when finished', world: { pods: { 'default/web': { ...running, phase: 'Succeeded', hostNetwork: true } }, nodes: readyNode }, want: { action: 'keep' } },
    { name: 'pod gone, node exists: pod-deleted', world: { pods: {}, nodes: readyNode }, want: { action: 'release', reason: 'pod-deleted', since: NOW } },
    { name: 'pod gone, node gone: node-deleted', world: { pods: {}, nodes: {} }, want: { action: 'release', reason: 'node-deleted', since: NOW } },
    { name: 'same name, new UID: pod-recreated', world: { pods: { 'default/web': { ...running, uid: 'u2' } }, nodes: readyNode }, want: { action: 'release', reason: 'pod-recreated', since: NOW } },
    { name: 'running pod on a deleted node: node-deleted', world: { pods: { 'default/web': running }, nodes: {} }, want: { action: 'release', reason: 'node-deleted', since: NOW } },
    {
      name: 'terminating, deadline not reached: wait until deletionTimestamp',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW + 500 } }, nodes: readyNode },
      want: { action: 'wait', reason: 'pod-terminating', at: NOW + 500 },
    },
    {
      name: 'terminating past deletionTimestamp (grace counted once): release',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW - 1 } }, nodes: readyNode },
      want: { action: 'release', reason: 'pod-terminating', since: NOW - 1 },
    },
    {
      name: 'terminating with extra delay',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW - 1 } }, nodes: readyNode },
      config: { terminatingDelayMs: 1000 },
      want: { action: 'wait', reason: 'pod-terminating', at: NOW + 999 },
    },
    {
      name: 'terminating on a Ready node with that switch off: keep',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW - 1 } }, nodes: readyNode },
      config: { terminatingOnReadyNode: false },
      want: { action: 'keep' },
    },
    {
      name: 'terminating on a NotReady node uses its own switch',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW - 1 } }, nodes: { n1: { ready: false, changedAt: NOW - 600 } } },
      config: { terminatingOnReadyNode: false },
      want: { action: 'release', reason: 'pod-terminating', since: NOW - 1 },
    },
    {
      name: 'terminating, reclaimable only since the node went NotReady: latency counts from then',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW - 900 } }, nodes: { n1: { ready: false, changedAt: NOW - 300 } } },
      config: { terminatingOnReadyNode: false },
      want: { action: 'release', reason: 'pod-terminating', since: NOW - 300 },
    },
    {
      name: 'terminating on a NotReady node, switch off: keep',
      world: { pods: { 'default/web': { ...running, deletionTimestamp: NOW - 1 } }, nodes: { n1: { ready: false } } },
      config: { terminatingOnNotReadyNode: false },
      want: { action: 'keep' },
    },
    {
      name: 'succeeded: release from the finish time',
      world: { pods: { 'default/web': { ...running, phase: 'Succeeded', finishedAt: NOW - 100 } }, nodes: readyNode },
      want: { action: 'release', reason: 'pod-finished', since: NOW - 100 },
    },
    {
      name: 'failed (evicted) with a delay not yet over: wait',
      world: { pods: { 'default/web': { ...running, phase: 'Failed', finishedAt: NOW - 100 } }, nodes: readyNode },
      config: { finishedDelayMs: 300 },
      want: { action: 'wait', reason: 'pod-finished', at: NOW + 200 },
    },
    { name: 'pool deleted: release, counted from when it was seen', world: { pods: { 'default/web': running }, nodes: readyNode, pools: [] }, want: { action: 'release', reason: 'pool-deleted', since: NOW } },
    {
      name: 'failed without any container finish time: the delay runs from a fixed past moment, never postponed',
      world: { pods: { 'default/web': { ...running, phase: 'Failed' } }, nodes: readyNode },
      config: { finishedDelayMs: 500 },
      want: { action: 'release', reason: 'pod-finished', since: 510 },
    },
    {
      name: 'sts scaled below the ordinal while its pod still terminates: wait for the deletionTimestamp',
      record: { stableKey: 'sts:default/web/2', podName: 'web-2' },
      world: { pods: { 'default/web-2': { ...running, deletionTimestamp: NOW + 30_000 } }, nodes: readyNode, sts: { 'default/web': { replicas: 2, deleting: false } } },
      want: { action: 'wait', reason: 'statefulset-scaled-down', at: NOW + 30_000 },
    },
    { name: 'API error on the pod: keep', world: { pods: { 'default/web': 'unknown' }, nodes: readyNode }, want: { action: 'keep' } },
    { name: 'API error on the node: keep', world: { pods: {}, nodes: { n1: 'unknown' } }, want: { action: 'release', reason: 'pod-deleted', since: NOW } },
    { name: 'API error on the node of a terminating pod: keep', world: { pods: { 'default/web': { ...running, deletionTimestamp: 0 } }, nodes: { n1: 'unknown' } }, want: { action: 'keep' } },
    { name: 'API error on pools: keep', world: { pods: {}, nodes: readyNode, pools: 'unknown' }, want: { action: 'keep' } },
    // StatefulSets and VMs
    { name: 'sts ordinal still wanted, pod gone: keep', record: { stableKey: 'sts:default/web/0', podName: 'web-0' }, world: { pods: {}, nodes: readyNode, sts: { 'default/web': { replicas: 1, deleting: false } } }, want: { action: 'keep' } },
    {
      name: 'sts scaled below the ordinal, pod gone: release',
      record: { stableKey: 'sts:default/web/2', podName: 'web-2' },
      world: { pods: {}, nodes: readyNode, sts: { 'default/web': { replicas: 2, deleting: false } } },
      want: { action: 'release', reason: 'statefulset-scaled-down', since: NOW },
    },
    {
      name: 'sts scaled below the ordinal but a pod of that name is alive: keep (scale down and up again)',
      record: { stableKey: 'sts:default/web/2', podName: 'web-2' },
      world: { pods: { 'default/web-2': { ...running, uid: 'u9' } }, nodes: readyNode, sts: { 'default/web': { replicas: 2, deleting: false } } },
      want: { action: 'keep' },
    },
    {
      name: 'sts deleted, pod gone: release',
      record: { stableKey: 'sts:default/web/0', podName: 'web-0' },
      world: { pods: {}, nodes: readyNode, sts: {} },
      want: { action: 'release', reason: 'statefulset-deleted', since: NOW },
    },
    {
      name: 'sts pod on a deleted node: kept for the ordinal',
      record: { stableKey: 'sts:default/web/0', podName: 'web-0' },
      world: { pods: {}, nodes: {}, sts: { 'default/web': { replicas: 3, deleting: false } } },
      want: { action: 'keep' },
    },
    { name: 'sts unreadable: keep', record: { stableKey: 'sts:default/web/0', podName: 'web-0' }, world: { pods: {}, nodes: readyNode, sts: { 'default/web': 'unknown' } }, want: { action: 'keep' } },
    { name: 'vm exists: keep', record: { stableKey: 'vm:default/vm1', podName: 'virt-launcher' }, world: { pods: {}, nodes: readyNode, vms: { 'default/vm1': { deleting: false } } }, want: { action: 'keep' } },
    { name: 'vm deleted: release', record: { stableKey: 'vm:default/vm1', podName: 'virt-launcher' }, world: { pods: {}, nodes: readyNode, vms: {} }, want: { action: 'release', reason: 'vm-deleted', since: NOW } },
    {
      name: 'vm deleted after a failed migration: the record names the dead target, the source launcher still runs: keep',
      record: { stableKey: 'vm:default/vm1', podName: 'virt-launcher-target' },
      world: { pods: {}, nodes: readyNode, vms: {}, launchers: { 'default/vm1': [{ ...running, uid: 'src' }] } },
      want: { action: 'keep' },
    },
    {
      name: 'vm deleted, the source launcher terminating: wait for its deletionTimestamp',
      record: { stableKey: 'vm:default/vm1', podName: 'virt-launcher-target' },
      world: { pods: {}, nodes: readyNode, vms: {}, launchers: { 'default/vm1': [{ ...running, uid: 'src', deletionTimestamp: NOW + 30_000 }, { ...running, uid: 'old', phase: 'Failed' }] } },
      want: { action: 'wait', reason: 'vm-deleted', at: NOW + 30_000 },
    },
    {
      name: 'vm deleted, launchers unreadable: keep',
      record: { stableKey: 'vm:default/vm1', podName: 'virt-launcher-target' },
      world: { pods: {}, nodes: readyNode, vms: {}, launchers: { 'default/vm1': 'unknown' } },
      want: { action: 'keep' },
    },
    { name: 'record without a pod, node exists: keep', record: { podNamespace: undefined, podName: undefined, podUid: undefined }, world: { nodes: readyNode }, want: { action: 'keep' } },
    {
      name: 'record without a pod, node gone: release',
      record: { podNamespace: undefined, podName: undefined, podUid: undefined },
      world: { nodes: {} },
      want: { action: 'release', reason: 'node-deleted', since: NOW },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const got = planGcVerdict(rec(c.record), view(c.world), { ...DEFAULT_GC_CONFIG, ...c.config }, NOW);
      if (c.want.action === 'keep') assert.equal(got.action, 'keep', JSON.stringify(got));
      else assert.deepEqual(got, c.want);
    });
  }
});

describe('planGcVerdict (properties)', () => {
  const podArb: fc.Arbitrary<GcPod | 'unknown' | undefined> = fc.oneof(
    fc.constant(undefined),
    fc.constant('unknown' as const),
    fc.record({
      uid: fc.constantFrom('u1', 'u2'),
      phase: fc.constantFrom('Pending', 'Running', 'Succeeded', 'Failed', ''),
      deletionTimestamp: fc.option(fc.integer({ min: 0, max: 2 * NOW }), { nil: undefined }),
      finishedAt: fc.option(fc.integer({ min: 0, max: 2 * NOW }), { nil: undefined }),
      hostNetwork: fc.boolean(),
    }),
  );
  const nodeArb = fc.oneof(fc.constant(undefined), fc.constant('unknown' as const), fc.record({ ready: fc.boolean() }));
  const stsArb = fc.oneof(fc.constant(undefined), fc.constant('unknown' as const), fc.record({ replicas: fc.integer({ min: 0, max: 3 }), deleting: fc.boolean() }));
  const configArb = fc.record({ terminatingOnReadyNode: fc.boolean(), terminatingOnNotReadyNode: fc.boolean(), terminatingDelayMs: fc.integer({ min: 0, max: 1000 }), finishedDelayMs: fc.integer({ min: 0, max: 1000 }) });

  test('never releases a live pod on a live node, and never on an unreadable answer', () => {
    fc.assert(
      fc.property(podArb, nodeArb, stsArb, configArb, fc.option(fc.constantFrom('sts:default/web/1'), { nil: undefined }), (pod, node, sts, config, stableKey) => {
        const verdict = planGcVerdict(rec({ stableKey }), view({ pods: pod === undefined ? {} : { 'default/web': pod }, nodes: node === undefined ? {} : { n1: node }, sts: sts === undefined ? {} : { 'default/web': sts } }), config, NOW);
        if (verdict.action !== 'release') return;
        assert.notEqual(pod, 'unknown', 'unreadable pod');
        const alive = typeof pod === 'object' && pod.uid === 'u1' && pod.deletionTimestamp === undefined && (pod.phase === 'Running' || pod.phase === 'Pending' || pod.phase === '');
        if (alive) assert.equal(verdict.reason, 'node-deleted', 'a live pod loses its IP only with its node');
        if (verdict.reason === 'node-deleted') assert.equal(node, undefined);
        if (stableKey) {
          assert.notEqual(sts, 'unknown');
          assert.ok(['statefulset-deleted', 'statefulset-scaled-down', 'pool-deleted'].includes(verdict.reason));
        }
        if (typeof pod === 'object' && pod.hostNetwork && pod.uid === 'u1' && !stableKey) assert.fail('hostNetwork pods are never reclaimed');
      }),
      { numRuns: 3000 },
    );
  });
});
