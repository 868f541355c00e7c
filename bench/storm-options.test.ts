import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, parseArgs, UsageError } from './storm-options.ts';

test('defaults: the reported storm (8 workers, 40 IPs, 7% lost DELs, kills every 5-15 s, the agent\'s own gc timing), 10 minutes, random seed', () => {
  const o = parseArgs([]);
  assert.deepEqual(o, { ...DEFAULTS, seed: undefined, jsonFile: undefined });
  assert.deepEqual([o.workers, o.poolSize, o.lostDelRatio, o.killEveryMs, o.gcIntervalMs, o.gcGraceMs, o.durationMs], [8, 40, 0.07, [5000, 15000], 5000, 10000, 600_000]);
});

const accepted: Array<[string[], (o: ReturnType<typeof parseArgs>) => unknown, unknown]> = [
  [['--duration', '10m'], (o) => o.durationMs, 600_000],
  [['--duration=1h30m'], (o) => o.durationMs, 5_400_000],
  [['--seed', '0'], (o) => o.seed, 0],
  [['--seed', '4294967295'], (o) => o.seed, 4294967295],
  [['--workers', '1', '--pool-size', '240'], (o) => [o.workers, o.poolSize], [1, 240]],
  [['--lost-del', '0'], (o) => o.lostDelRatio, 0],
  [['--lost-del', '.5'], (o) => o.lostDelRatio, 0.5],
  [['--kill-every', '500ms-2s'], (o) => o.killEveryMs, [500, 2000]],
  [['--kill-every', '30s-30s'], (o) => o.killEveryMs, [30_000, 30_000]],
  [['--gc-interval', '1s', '--gc-grace', '0s'], (o) => [o.gcIntervalMs, o.gcGraceMs], [1000, 0]],
  [['--json', 'out.json'], (o) => o.jsonFile, 'out.json'],
];
for (const [argv, pick, want] of accepted) test(`accepts ${argv.join(' ')}`, () => assert.deepEqual(pick(parseArgs(argv)), want));

const refused: Array<[string[], RegExp]> = [
  [['--duration'], /^--duration needs a duration/],
  [['--duration', '10'], /^--duration: "10" is not a duration/],
  [['--duration', '500ms'], /^--duration 500ms is less than 1s$/],
  [['--seed', '-1'], /^--seed must be an integer from 0 to 4294967295, got "-1"$/],
  [['--seed', '4294967296'], /^--seed 4294967296 is more than 4294967295: seeds are 32-bit$/],
  [['--workers', '0'], /^--workers must be an integer from 1 to 64, got "0"$/],
  [['--pool-size', '241'], /^--pool-size 241 is more than 240: the pool is one \/24$/],
  [['--lost-del', '1.5'], /^--lost-del must be a number from 0 to 1/],
  [['--kill-every', '5s'], /^--kill-every must be MIN-MAX, e\.g\. 5s-15s, got "5s"$/],
  [['--kill-every', '15s-5s'], /^--kill-every 15s-5s: the minimum is more than the maximum$/],
  [['--kill-every', '100ms-1s'], /^--kill-every 100ms-1s: the agent must live at least 500ms/],
  [['--kill-every', '5x-15s'], /^--kill-every: "5x" is not a duration/],
  [['--gc-interval', '50ms'], /^--gc-interval must be at least 100ms/],
  [['--soak'], /^unknown flag --soak$/],
  [['10m'], /^unexpected argument "10m"$/],
];
for (const [argv, message] of refused) {
  test(`refuses ${argv.join(' ')}`, () => assert.throws(() => parseArgs(argv), (err: unknown) => err instanceof UsageError && message.test(err.message)));
}
