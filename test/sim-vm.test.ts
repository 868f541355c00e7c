// KubeVirt VMs in the simulator: live migrations (some failing), restarts and
// deletions of VMs among every fault, with "a running VM never loses its IP"
// (vm-keeps-ip) checked at every step. The planted VM bugs are in
// test/sim-plants.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRng } from '../src/sim/rng.ts';
import { runSimulation } from '../src/sim/run.ts';
import { parseScenario, planRandomScenario, type Scenario } from '../src/sim/scenario.ts';

const hasVms = (s: Scenario) => s.workloads.some((w) => w.kind === 'VirtualMachine');

test('the kubevirt example: VMs migrate, fail to migrate, restart and go, and every invariant holds', async () => {
  const scenario = { ...parseScenario(readFileSync('examples/simulate/kubevirt.yaml', 'utf8')), durationMs: 20 * 60_000, settleMs: 3 * 60_000 };
  const r = await runSimulation({ scenario, seed: 3 });
  assert.deepEqual(r.violations, [], r.trace.join('\n'));
  const vms = r.vms!;
  assert.ok(vms.migrated > 0 && vms.migrationsFailed > 0 && vms.restarts > 0, JSON.stringify(vms));
  assert.ok(vms.launchers >= 9 + vms.migrations, 'each VM started, and each migration made a target');
  // A scenario replays step for step with VMs too.
  const again = await runSimulation({ scenario, seed: 3 });
  assert.equal(again.digest, r.digest);
  assert.deepEqual(again.vms, r.vms);
});

test('a scenario without VMs serves no KubeVirt kinds and reports no VMs', async () => {
  const scenario = parseScenario(`
duration: 1m
settle: 30s
pools: [{ name: lan, subnet: 10.0.0.0/24, ips: [10.0.0.10-10.0.0.20], default: true }]
workloads: [{ kind: Deployment, name: web, replicas: 2 }]
`);
  const r = await runSimulation({ scenario, seed: 1 });
  assert.deepEqual(r.violations, []);
  assert.equal(r.vms, undefined);
});

test('50 random clusters with VMs and every fault: every invariant holds at every step', async () => {
  let swept = 0;
  let migrations = 0;
  for (let seed = 1; swept < 50; seed++) {
    const scenario = planRandomScenario(createRng(seed));
    if (!hasVms(scenario)) continue;
    swept++;
    const r = await runSimulation({ scenario, seed });
    assert.deepEqual(r.violations, [], `seed ${seed} (npm run sim -- --seed ${seed}):\n${r.trace.join('\n')}`);
    migrations += r.vms!.migrations;
  }
  assert.ok(migrations > 100, `${migrations} migrations in 50 seeds`);
});
