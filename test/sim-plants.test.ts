// The simulator has teeth: each known bug, planted into the real code through
// its dependency seams, is caught within a bounded number of seeds, by the
// invariant that bug breaks, and the same seed without the bug stays clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PLANTS, type PlantName } from './sim/plants.ts';
import { createRng } from '../src/sim/rng.ts';
import { runSimulation, type SimResult } from '../src/sim/run.ts';
import { planRandomScenario } from '../src/sim/scenario.ts';
import type { InvariantName } from '../src/sim/invariants.ts';

// The first catching seed moves whenever timing in the real code changes (release-ignores-owner, the rarest, is at 219).
const MAX_SEEDS = 600;

const expected: Record<PlantName, readonly InvariantName[]> = {
  // A stale release frees the IP a new pod now holds.
  'release-ignores-owner': ['live-pod-keeps-ip', 'unique-ip'],
  // The cache lags the API server: a pod it has not seen yet loses its IP.
  'trust-cache': ['live-pod-keeps-ip', 'unique-ip'],
  'first-sighting': ['live-pod-keeps-ip', 'unique-ip'],
  // The old sandbox still has the IP when a new pod gets it.
  'no-cooldown': ['unique-ip'],
  // A scaled-down ordinal's IP is never freed.
  'forget-ordinal': ['leak-bound'],
  // A restarted StatefulSet pod comes back with another IP.
  'sts-like-deployment': ['sts-keeps-ip'],
  // A failed migration's target takes the VM's IPs with it while the source runs on; a restarted VM comes back with another IP.
  'del-forgets-vm': ['vm-keeps-ip'],
  'vm-like-pod': ['vm-keeps-ip'],
};

const run = (seed: number, plant?: PlantName) => runSimulation({ scenario: planRandomScenario(createRng(seed)), seed, plant: plant && PLANTS[plant] });

for (const name of Object.keys(PLANTS) as PlantName[]) {
  test(`planted bug "${name}" (${PLANTS[name].description}) is caught within ${MAX_SEEDS} seeds`, async () => {
    let caught: SimResult | undefined;
    for (let seed = 1; seed <= MAX_SEEDS && !caught; seed++) {
      const r = await run(seed, name);
      if (r.violations.length > 0) caught = r;
    }
    assert.ok(caught, `no seed up to ${MAX_SEEDS} noticed ${name}`);
    const v = caught.violations[0]!;
    assert.ok(expected[name].includes(v.invariant), `${name} was caught by ${v.invariant}: ${v.message}`);
    assert.ok(caught.trace.some((l) => l.includes('VIOLATION')), 'the trace shows the violation');

    // The same seed without the bug is clean: the plant, not the seed, broke the invariant.
    const clean = await run(caught.seed);
    assert.deepEqual(clean.violations, [], `seed ${caught.seed} fails without the plant too`);

    // A failing seed replays exactly.
    const again = await run(caught.seed, name);
    assert.equal(again.digest, caught.digest);
    assert.deepEqual(again.violations, caught.violations);
  });
}

test('a seed replays step for step, alone or after other seeds in the same process', async () => {
  const first = await run(7);
  await run(8);
  const again = await run(7);
  assert.equal(again.digest, first.digest);
  assert.equal(again.steps, first.steps);
  assert.notEqual((await run(8)).digest, first.digest);
});
