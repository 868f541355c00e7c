import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TidepoolError } from '../ipam/errors.ts';
import { createRng } from './rng.ts';
import { parseScenario, planRandomScenario } from './scenario.ts';

const base = `
pools:
  - { name: lan, subnet: 10.0.0.0/24, ips: [10.0.0.10-10.0.0.20], default: true }
workloads:
  - { kind: Deployment, name: web, replicas: 3 }
`;

test('a minimal scenario gets the documented defaults', () => {
  const s = parseScenario(base, 'min.yaml');
  assert.equal(s.name, 'min.yaml');
  assert.equal(s.durationMs, 600_000);
  assert.equal(s.settleMs, 300_000);
  assert.equal(s.nodes, 3);
  assert.equal(s.controllers, 2);
  assert.equal(s.workloads[0]!.namespace, 'default');
  assert.deepEqual(s.workloads[0]!.replicasRange, [3, 3]);
  assert.equal(s.faults.delLost, 0);
  assert.equal(s.gc.scanIntervalMs, 60_000);
});

test('rates, durations and count expansion', () => {
  const s = parseScenario(`${base}
  - { kind: Job, name: batch, replicas: 2, runFor: 30s-2m, count: 3, churn: { scale: 30/h, evict: 0.5/s, restart: 2 } }
faults: { agentKill: 6/h, delLost: 0.1, watchDelayMax: 1500ms }
gc: { scanInterval: 2m }
duration: 1h
`);
  assert.deepEqual(s.workloads.map((w) => w.name), ['web', 'batch-0', 'batch-1', 'batch-2']);
  const job = s.workloads[1]!;
  assert.deepEqual(job.runMs, [30_000, 120_000]);
  assert.deepEqual(job.churn, { scale: 0.5, evict: 30, restart: 2, delete: 0, migrate: 0 });
  assert.equal(s.faults.agentKillPerMin, 0.1);
  assert.equal(s.faults.watchDelayMaxMs, 1500);
  assert.equal(s.gc.scanIntervalMs, 120_000);
  assert.equal(s.durationMs, 3_600_000);
});

test('VirtualMachines: one VM per workload, migration churn, failure share and time, documented defaults', () => {
  const s = parseScenario(`${base}
  - { kind: VirtualMachine, name: vm, namespace: virt, count: 2, churn: { migrate: 12/h, restart: 1/h, delete: 0.5/h }, migrationFailRate: 0.25, migrationTime: 10s-1m }
  - { kind: VirtualMachine, name: db, interfaces: 2, pools: { ipv4: [lan] } }
`);
  const [vm0, vm1, db] = s.workloads.slice(1);
  assert.deepEqual([vm0!.name, vm1!.name, db!.name], ['vm-0', 'vm-1', 'db']);
  assert.equal(vm0!.kind, 'VirtualMachine');
  assert.equal(vm0!.replicas, 1);
  assert.deepEqual(vm0!.churn, { scale: 0, restart: 1 / 60, evict: 0, delete: 0.5 / 60, migrate: 0.2 });
  assert.equal(vm0!.migrationFailRate, 0.25);
  assert.deepEqual(vm0!.migrationMs, [10_000, 60_000]);
  assert.equal(db!.migrationFailRate, 0.1);
  assert.deepEqual(db!.migrationMs, [5_000, 30_000]);
  assert.equal(db!.interfaces, 2);
});

const vmBase = `${base}  - { kind: VirtualMachine, name: vm }\n`;

const bad: Array<[string, string, RegExp]> = [
  ['replicas on a VirtualMachine', vmBase.replace('name: vm }', 'name: vm, replicas: 2 }'), /^workloads\[1\]\.replicas: does not apply to a VirtualMachine \(one VM per workload; use count for more\)/],
  ['replicasRange on a VirtualMachine', vmBase.replace('name: vm }', 'name: vm, replicasRange: [1, 2] }'), /^workloads\[1\]\.replicasRange: does not apply to a VirtualMachine/],
  ['evict churn on a VirtualMachine', vmBase.replace('name: vm }', 'name: vm, churn: { evict: 1/h } }'), /^workloads\[1\]\.churn\.evict: does not apply to a VirtualMachine \(its churn: restart, delete, migrate\)/],
  ['migrate churn on a Deployment', base.replace('replicas: 3', 'replicas: 3, churn: { migrate: 1/h }'), /^workloads\[0\]\.churn\.migrate: applies to VirtualMachines only/],
  ['migrationFailRate on a Deployment', base.replace('replicas: 3', 'replicas: 3, migrationFailRate: 0.1'), /^workloads\[0\]\.migrationFailRate: applies to VirtualMachines only/],
  ['bad migrationFailRate', vmBase.replace('name: vm }', 'name: vm, migrationFailRate: 2 }'), /^workloads\[1\]\.migrationFailRate: must be a share from 0 to 1, got 2/],
  ['bad migrate rate', vmBase.replace('name: vm }', 'name: vm, churn: { migrate: often } }'), /^workloads\[1\]\.churn\.migrate: must be a rate like 2\/m/],
  ['migrationTime upside down', vmBase.replace('name: vm }', 'name: vm, migrationTime: 1m-10s }'), /^workloads\[1\]\.migrationTime: the range 1m-10s ends before it starts/],
  ['scaling a VirtualMachine', `${vmBase}script: [{ at: 1m, scale: { workload: vm, replicas: 2 } }]`, /^script\[0\]\.scale\.workload: "vm" is a VirtualMachine, which has no replicas to scale/],
  ['not YAML', 'pools: [', /^s\.yaml: not valid YAML/],
  ['not a mapping', '- 1', /^s\.yaml: must be a mapping/],
  ['unknown top-level field', `${base}\nnodez: 3`, /^nodez: unknown field/],
  ['no pools', 'workloads: [{kind: Pod, name: a}]', /^pools: must list at least one pool/],
  ['bad subnet', base.replace('10.0.0.0/24', '10.0.0.0/99'), /^pools: .*subnet/],
  ['overlapping pools', `${base.replace('workloads:', '  - { name: two, subnet: 10.0.0.0/24, ips: [10.0.0.15] }\nworkloads:')}`, /^pools: .*overlap/i],
  ['bad workload kind', base.replace('Deployment', 'DaemonSet'), /^workloads\[0\]\.kind: must be one of Deployment, StatefulSet, Job, Pod, VirtualMachine, got "DaemonSet"/],
  ['bad replicas', base.replace('replicas: 3', 'replicas: three'), /^workloads\[0\]\.replicas: must be an integer from 0 to 5000, got "three"/],
  ['bad name', base.replace('name: web', 'name: Web_1'), /^workloads\[0\]\.name: must be a lowercase DNS label/],
  ['unknown pool', base.replace('replicas: 3', 'replicas: 3, pools: { ipv4: [nope] }'), /^workloads\[0\]\.pools\.ipv4\[0\]: pool "nope" is not defined under pools/],
  ['too many interfaces', base.replace('replicas: 3', 'replicas: 3, interfaces: 3'), /^workloads\[0\]\.interfaces: must be an integer from 1 to 2/],
  ['runFor on a Deployment', base.replace('replicas: 3', 'replicas: 3, runFor: 1m'), /^workloads\[0\]\.runFor: applies to Jobs only/],
  ['bad rate', `${base}faults: { agentKill: often }`, /^faults\.agentKill: must be a rate like 2\/m/],
  ['bad share', `${base}faults: { delLost: 1.5 }`, /^faults\.delLost: must be a share from 0 to 1, got 1\.5/],
  ['unknown fault', `${base}faults: { meteor: 1 }`, /^faults\.meteor: unknown field/],
  ['bad duration', `${base}duration: soon`, /^duration: "soon" is not a duration/],
  ['duplicate workload', `${base}  - { kind: Pod, name: web }`, /^workloads\[1\]\.name: default\/web is defined twice/],
  ['script on an unknown workload', `${base}script: [{ at: 1m, deletePods: db }]`, /^script\[0\]\.deletePods: no workload named "db"/],
  ['script step with two actions', `${base}script: [{ at: 1m, deletePods: web, deleteWorkloads: web }]`, /^script\[0\]: needs exactly one of/],
  ['replicasRange upside down', base.replace('replicas: 3', 'replicas: 3, replicasRange: [5, 2]'), /^workloads\[0\]\.replicasRange: max 2 is below min 5/],
];

for (const [what, text, message] of bad) {
  test(`refused: ${what}`, () => {
    assert.throws(
      () => parseScenario(text, 's.yaml'),
      (err: unknown) => err instanceof TidepoolError && err.code === 'INVALID_CONFIG' && message.test(err.message),
    );
  });
}

test('the shipped example scenarios parse', () => {
  const sp = parseScenario(readFileSync('examples/simulate/spiderpool-1000.yaml', 'utf8'));
  assert.equal(sp.workloads.length, 100);
  assert.equal(sp.workloads.reduce((n, w) => n + w.replicas, 0), 1000);
  assert.equal(sp.nodes, 10);
  assert.deepEqual(sp.script.map((s) => s.action), ['delete-pods', 'delete-workloads']);
  const churn = parseScenario(readFileSync('examples/simulate/churn.yaml', 'utf8'));
  assert.ok(churn.workloads.some((w) => w.interfaces === 2));
  assert.ok(churn.pools.some((p) => p.subnet.includes(':')));
  const kubevirt = parseScenario(readFileSync('examples/simulate/kubevirt.yaml', 'utf8'));
  assert.equal(kubevirt.workloads.filter((w) => w.kind === 'VirtualMachine').length, 9);
  assert.ok(kubevirt.workloads.every((w) => w.kind !== 'VirtualMachine' || w.churn.migrate > 0));
});

test('random scenarios are valid, vary by seed, and repeat for one seed', () => {
  const a = planRandomScenario(createRng(11));
  assert.deepEqual(planRandomScenario(createRng(11)), a);
  const sizes = new Set(Array.from({ length: 20 }, (_, i) => JSON.stringify(planRandomScenario(createRng(i)).faults)));
  assert.ok(sizes.size > 15);
  assert.ok(a.pools.every((p) => p.name && p.subnet));
  // VMs in about half the seeds, without changing anything else the seed draws.
  const withVms = Array.from({ length: 40 }, (_, i) => planRandomScenario(createRng(i))).filter((s) => s.workloads.some((w) => w.kind === 'VirtualMachine'));
  assert.ok(withVms.length > 10 && withVms.length < 30, `${withVms.length} of 40 seeds have VMs`);
  for (const s of withVms) assert.ok(s.workloads.filter((w) => w.kind === 'VirtualMachine').every((w) => w.churn.migrate > 0 && w.replicas === 1));
});
