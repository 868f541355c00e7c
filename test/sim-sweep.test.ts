// The CI sweep: 1000 random clusters, one per seed, every fault on, the real
// agent, controller and store code in virtual time. A violation fails the test
// with its seed, the trace that led to it and the replay command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulateCommand } from '../src/cli/simulate.ts';

test('1000 seeds of random clusters with faults: every invariant holds at every step', async () => {
  let out = '';
  let err = '';
  const code = await simulateCommand(['--seeds', '1000', '--from', '1'], { out: (t) => void (out += t), err: (t) => void (err += t), env: {}, now: Date.now });
  assert.equal(code, 0, out + err);
  assert.match(out, /^1000 seeds \(1–1000\): every invariant held\. .* events\/s, \d+ seeds\/min\n$/);
});
