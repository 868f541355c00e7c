// The end-to-end bench's CI preset (bench/e2e/): 3 nodes, 10 Deployments x 10
// replicas, IPv4 at 1:1, 10% of re-creation DELs lost, paced and niced as the
// bench's defaults. Real agent and
// controller processes, the fake API server in its own process, Debian's
// macvlan with tidepool as IPAM in real network namespaces. Asserts
// correctness only, never timing: every pod Running after each phase, no
// duplicate IP ever, recovery gives each pod its IP back without a new
// allocation, every IP free at the end, nothing left behind.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, environmentProblems, variantOf } from '../bench/e2e/options.ts';
import { PHASES, runVariant } from '../bench/e2e/run.ts';
import { leftovers, Owned, snapshotBuild } from '../bench/e2e/system.ts';

// Ends in a letter so it is never the start of another run's prefix.
const prefix = `tp${process.pid % 100_000}t`;
const owned = new Owned();
after(() => owned.cleanupSync());

test('end to end preset: 3 nodes, 10 x 10 pods, IPv4 1:1, lost DELs 10%', { timeout: 180_000 }, async () => {
  const shape = { deployments: 10, replicas: 10 };
  const problems = environmentProblems({ shape, nodes: 3, concurrency: 8 });
  assert.deepEqual(problems, [], `the end-to-end preset cannot run here: ${problems.join('; ')}`);
  const build = await snapshotBuild(owned);
  const lines: string[] = [];
  const result = await runVariant(
    { variant: variantOf('v4-1x'), shape, nodes: 3, ips: 100, lostDel: 0.1, concurrency: 8, controllerQps: { qps: DEFAULTS.controllerQps, burst: DEFAULTS.controllerBurst }, nodeNice: DEFAULTS.nodeNice, phaseTimeoutS: 60, prefix, build, log: (l) => lines.push(l) },
    owned,
  );
  const where = `\n${lines.join('\n')}`;
  assert.deepEqual(result.problems, [], `run problems${where}`);
  assert.deepEqual(result.phases.map((p) => p.phase), [...PHASES], `every phase ran${where}`);
  for (const p of result.phases) {
    assert.deepEqual(p.problems, [], `${p.phase}: problems${where}`);
    assert.equal(p.failedPods, 0, `${p.phase}: failed pods`);
  }
  assert.deepEqual(result.duplicates, [], 'no IP held by two running pods, ever');
  const recreation = result.phases.find((p) => p.phase === 're-creation')!;
  assert.equal(recreation.lostDels, 10, 'a tenth of the DELs were lost');
  assert.equal(recreation.dels, 90);
  // The lost DELs' IPs came back through the garbage collector (controller, or the agents' netns collector).
  const gc = Object.entries(recreation.releasedBy).filter(([k]) => k.startsWith('gc:') || k === 'agent:netns-gc').reduce((n, [, v]) => n + v, 0);
  assert.equal(gc, 10, `IPs reclaimed by GC: ${JSON.stringify(recreation.releasedBy)}`);
  const recovery = result.phases.find((p) => p.phase === 'recovery')!.recovery!;
  assert.equal(recovery.changedIps, 0, 'every pod got its IP back');
  assert.equal(recovery.newAllocations, 0, 'recovery allocated nothing new');
  assert.equal(recovery.allocationsAfter, recovery.allocationsBefore, 'the IPAllocation count did not grow');
  // Cleanup: nothing with this run's prefix is left.
  owned.cleanupSync();
  assert.deepEqual(leftovers(prefix), { namespaces: [], links: [] });
});
