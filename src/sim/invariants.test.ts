import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TIDEPOOL_API_VERSION } from '../api/crd-schemas.ts';
import { createSimApiServer, WATCH_CACHE_LAG_MAX_MS } from './api-server.ts';
import { createChecker } from './invariants.ts';
import { createRng } from './rng.ts';
import { createScheduler } from './scheduler.ts';
import { parseScenario } from './scenario.ts';
import { KUBEVIRT_KINDS } from './virtual-machines.ts';
import type { Sandbox, SimNode, World } from './world.ts';

const scenario = parseScenario(`
pools: [{ name: lan, subnet: 10.0.0.0/24, ips: [10.0.0.1-10.0.0.9], default: true }]
workloads: [{ kind: Pod, name: p }]
`);

const vmScenario = parseScenario(`
pools: [{ name: lan, subnet: 10.0.0.0/24, ips: [10.0.0.1-10.0.0.9], default: true }]
workloads: [{ kind: VirtualMachine, name: vm }]
`);

function setup(opts: { vms?: boolean } = {}) {
  const sched = createScheduler(Date.UTC(2026, 0, 1));
  const api = createSimApiServer({ sched, rng: createRng(1), ...(opts.vms ? { kinds: KUBEVIRT_KINDS } : {}) });
  api.direct.create('/apis/tidepool.dev/v1alpha1/ippools', { apiVersion: TIDEPOOL_API_VERSION, kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.0.0.0/24', ips: ['10.0.0.1-10.0.0.9'] } });
  let leader: number | undefined = sched.now - 60_000;
  const nodes = new Map<string, SimNode>();
  const world = { nodes, leaderSince: () => leader, pods: () => api.objects('pods') } as unknown as World;
  const checker = createChecker({ scenario: opts.vms ? vmScenario : scenario, api, world, now: () => sched.now });
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
  const record = (ip: string, owner?: { podName: string; podUid: string; vm?: { namespace: string; name: string } }) =>
    api.direct.create('/apis/tidepool.dev/v1alpha1/ipallocations', {
      apiVersion: TIDEPOOL_API_VERSION,
      kind: 'IPAllocation',
      metadata: { name: `lan.${ip}` },
      spec: { pool: 'lan', ip, ...(owner ? { owner: { podNamespace: 'default', ...owner, node: 'n1', containerId: `cid-${owner.podName}`, ifname: 'eth0', allocatedAt: '2026-01-01T00:00:00Z' } } : {}) },
    });
  const advance = async (ms: number) => {
    sched.advanceTo(sched.now + ms);
  };
  /** A VirtualMachine, its VMI (returned: its UID) and nothing else. */
  const vm = (name: string): string => {
    const v = api.direct.create<{ metadata: { uid: string } }>('/apis/kubevirt.io/v1/namespaces/default/virtualmachines', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name }, spec: { running: true } });
    const owner = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name, uid: v.metadata.uid, controller: true };
    return api.direct.create<{ metadata: { uid: string } }>('/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name, ownerReferences: [owner] }, spec: {} }).metadata.uid;
  };
  const launcher = (name: string, nodeName: string, vmName: string, vmiUid: string) =>
    api.direct.create<{ metadata: { uid: string } }>('/api/v1/namespaces/default/pods', {
      metadata: { name, labels: { 'vm.kubevirt.io/name': vmName }, ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name: vmName, uid: vmiUid, controller: true }] },
      spec: { nodeName, containers: [{ name: 'compute', image: 'i' }] },
    }).metadata.uid;
  return { sched, api, checker, node, pod, sandbox, record, advance, vm, launcher, setLeader: (v: number | undefined) => (leader = v) };
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
  // docs/gc.md's 2 s, plus the longest the API server's watch cache may hold an event back.
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

test('unique-ip: the two launchers of one VMI share its IP during a migration; launchers of two VMIs may not', () => {
  const w = setup({ vms: true });
  const n1 = w.node('n1');
  const n2 = w.node('n2');
  const vmi = w.vm('vm');
  const source = w.launcher('virt-launcher-vm-a', 'n1', 'vm', vmi);
  const target = w.launcher('virt-launcher-vm-b', 'n2', 'vm', vmi);
  w.record('10.0.0.5', { podName: 'virt-launcher-vm-b', podUid: target, vm: { namespace: 'default', name: 'vm' } });
  w.sandbox(n1, 'virt-launcher-vm-a', source, ['lan/10.0.0.5']);
  w.sandbox(n2, 'virt-launcher-vm-b', target, ['lan/10.0.0.5']);
  assert.deepEqual(w.checker.afterStep(), [], 'a migration: both launchers run the VM, the record names the VM');
  // The source pod completes and is deleted at once, before kubelet tears its sandbox down: still the same VMI.
  w.api.direct.delete('/api/v1/namespaces/default/pods/virt-launcher-vm-a', { gracePeriodSeconds: 0 });
  assert.deepEqual(w.checker.afterStep(), []);
  const other = w.vm('other');
  const stranger = w.launcher('virt-launcher-other-a', 'n1', 'other', other);
  w.sandbox(n1, 'virt-launcher-other-a', stranger, ['lan/10.0.0.5']);
  const found = w.checker.afterStep().filter((v) => v.invariant === 'unique-ip');
  assert.equal(found.length, 1);
  assert.match(found[0]!.message, /10\.0\.0\.5 is held by two live pods/);
});

test('vm-keeps-ip: a running launcher\'s IPs must stay held for its VM, whichever launcher the record names', () => {
  const w = setup({ vms: true });
  const n1 = w.node('n1');
  const vmi = w.vm('vm');
  const source = w.launcher('virt-launcher-vm-a', 'n1', 'vm', vmi);
  w.sandbox(n1, 'virt-launcher-vm-a', source, ['lan/10.0.0.6']);
  // A failed migration's target named by the record, gone: the IP is still the VM's.
  w.record('10.0.0.6', { podName: 'virt-launcher-vm-gone', podUid: 'uid-gone', vm: { namespace: 'default', name: 'vm' } });
  assert.deepEqual(w.checker.afterStep(), []);
  w.api.direct.patch('/apis/tidepool.dev/v1alpha1/ipallocations/lan.10.0.0.6', { spec: { owner: null } });
  const found = w.checker.afterStep();
  assert.equal(found[0]?.invariant, 'vm-keeps-ip');
  assert.match(found[0]!.message, /running VM default\/vm \(virt-launcher virt-launcher-vm-a, uid .*\) lost lan\/10\.0\.0\.6: released/);
});

test('vm-keeps-ip: a VM that was never deleted comes back with the IPs of its first ADD', () => {
  const w = setup({ vms: true });
  const n1 = w.node('n1');
  const vmi = w.vm('vm');
  const first = w.sandbox(n1, 'virt-launcher-vm-a', w.launcher('virt-launcher-vm-a', 'n1', 'vm', vmi), []);
  assert.deepEqual(w.checker.handout(first, ['lan/10.0.0.2'], w.sched.now), []);
  const again = w.sandbox(n1, 'virt-launcher-vm-b', w.launcher('virt-launcher-vm-b', 'n1', 'vm', vmi), []);
  assert.deepEqual(w.checker.handout(again, ['lan/10.0.0.2'], w.sched.now), []);
  const moved = w.sandbox(n1, 'virt-launcher-vm-c', w.launcher('virt-launcher-vm-c', 'n1', 'vm', vmi), []);
  const found = w.checker.handout(moved, ['lan/10.0.0.3'], w.sched.now);
  assert.equal(found[0]?.invariant, 'vm-keeps-ip');
  assert.match(found[0]!.message, /VM default\/vm's virt-launcher default\/virt-launcher-vm-c got lan\/10\.0\.0\.3; the VM had lan\/10\.0\.0\.2 since its first ADD/);
  // Deleted and made again: a new VM, which may get any IP.
  w.api.direct.delete('/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm');
  w.api.direct.delete('/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances/vm');
  const vmi2 = w.vm('vm');
  const fresh = w.sandbox(n1, 'virt-launcher-vm-d', w.launcher('virt-launcher-vm-d', 'n1', 'vm', vmi2), []);
  assert.deepEqual(w.checker.handout(fresh, ['lan/10.0.0.4'], w.sched.now), []);
});

test('leak-bound: a VM\'s IP is kept while the VM exists, then while any of its launchers is left', async () => {
  const w = setup({ vms: true });
  w.node('n1');
  const vmi = w.vm('vm');
  w.record('10.0.0.7', { podName: 'virt-launcher-vm-gone', podUid: 'uid-gone', vm: { namespace: 'default', name: 'vm' } });
  w.launcher('virt-launcher-vm-a', 'n1', 'vm', vmi);
  const leaks = () => w.checker.afterStep().filter((v) => v.invariant === 'leak-bound');
  await w.advance(60_000);
  assert.deepEqual(leaks(), [], 'the VM exists');
  w.api.direct.delete('/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm');
  await w.advance(60_000);
  assert.deepEqual(leaks(), [], 'a launcher of the VM is left');
  w.api.direct.delete('/api/v1/namespaces/default/pods/virt-launcher-vm-a', { gracePeriodSeconds: 0 });
  leaks();
  await w.advance(3_000);
  const found = leaks();
  assert.equal(found[0]?.invariant, 'leak-bound');
  assert.match(found[0]!.message, /VirtualMachine default\/vm deleted and none of its virt-launcher pods is left/);
});
