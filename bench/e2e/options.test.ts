import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, parseArgs, UsageError } from './options.ts';

test('defaults: Spiderpool\'s shape, paced like kube-controller-manager, node work niced', () => {
  const o = parseArgs([]);
  assert.deepEqual(o.shape, { deployments: 100, replicas: 10 });
  assert.equal(o.ips, 1000);
  assert.deepEqual(o.controllerQps, { qps: DEFAULTS.controllerQps, burst: DEFAULTS.controllerBurst });
  assert.deepEqual(o.controllerQps, { qps: 20, burst: 30 }, 'kube-controller-manager\'s --kube-api-qps and --kube-api-burst defaults');
  assert.equal(o.nodeNice, 10);
});

const accepted: Array<[string[], (o: ReturnType<typeof parseArgs>) => unknown, unknown]> = [
  [['--controller-qps', '0'], (o) => o.controllerQps.qps, 0],
  [['--controller-qps=50', '--controller-burst', '100'], (o) => o.controllerQps, { qps: 50, burst: 100 }],
  [['--node-nice', '0'], (o) => o.nodeNice, 0],
  [['--node-nice', '19'], (o) => o.nodeNice, 19],
  [['--variants', 'v4-1x,dual-2x'], (o) => o.variants.map((v) => v.id), ['v4-1x', 'dual-2x']],
  [['--shape', '1x1000'], (o) => o.shape, { deployments: 1, replicas: 1000 }],
  [['--pods', '300'], (o) => o.shape, { deployments: 30, replicas: 10 }],
  [['--lost-del', '0.25'], (o) => o.lostDel, 0.25],
];

for (const [argv, pick, want] of accepted) {
  test(`accepts ${argv.join(' ')}`, () => assert.deepEqual(pick(parseArgs(argv)), want));
}

// Each refusal names the flag and says why, before anything starts.
const refused: Array<[string[], RegExp]> = [
  [['--controller-qps', '-1'], /^--controller-qps must be an integer from 0 to 100000, got "-1"$/],
  [['--controller-qps'], /^--controller-qps needs a value/],
  [['--controller-burst', '0'], /^--controller-burst must be an integer from 1/],
  [['--node-nice', '20'], /^--node-nice 20 is more than 19: nice values run from 0 \(normal\) to 19 \(lowest\)$/],
  [['--node-nice', 'low'], /^--node-nice must be an integer from 0 to 19, got "low"$/],
  [['--variants', 'v4-3x'], /^--variants: unknown variant "v4-3x"; choose from v4-1x, v4-2x, dual-1x, dual-2x$/],
  [['--shape', '100by10'], /^--shape must be DxR/],
  [['--pods', '1005'], /^--pods 1005 is not a multiple of 10 replicas/],
  [['--ips', '999'], /^--ips 999 is less than the 1000 pods/],
  [['--nodes', '2000', '--pods', '1000'], /^--nodes 2000 is more than 64/],
  [['--lost-del', '1.5'], /^--lost-del must be a number from 0 to 1/],
  [['--bogus'], /^unknown flag --bogus$/],
];

for (const [argv, message] of refused) {
  test(`refuses ${argv.join(' ')}`, () => {
    assert.throws(() => parseArgs(argv), (err: unknown) => err instanceof UsageError && message.test(err.message));
  });
}
