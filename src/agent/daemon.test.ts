import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TidepoolError } from '../ipam/errors.ts';
import { DAEMON_DEFAULTS, parseDaemonArgs } from './daemon.ts';

const base = ['--pools', 'pools.yaml', '--node', 'n1'];

test('daemon flags: defaults, including the 3 s wait of an ADD that finds its pools full', () => {
  const c = parseDaemonArgs(base);
  assert.equal(c.store, 'sqlite');
  assert.equal(c.exhaustedWaitMs, 3_000);
  assert.equal(DAEMON_DEFAULTS.exhaustedWait, '3s');
  assert.equal(c.reuseCooldownMs, 0);
  assert.equal(c.gcIntervalMs, 5_000);
  assert.equal(c.shutdownTimeoutMs, 5_000);
  assert.equal(DAEMON_DEFAULTS.shutdownTimeout, '5s');
});

const accepted: Array<[string[], (c: ReturnType<typeof parseDaemonArgs>) => unknown, unknown]> = [
  [['--exhausted-wait', '0s'], (c) => c.exhaustedWaitMs, 0],
  [['--exhausted-wait', '8s'], (c) => c.exhaustedWaitMs, 8_000],
  [['--exhausted-wait=750ms'], (c) => c.exhaustedWaitMs, 750],
  [['--reuse-cooldown', '1m30s'], (c) => c.reuseCooldownMs, 90_000],
  [['--shutdown-timeout', '0s'], (c) => c.shutdownTimeoutMs, 0],
  [['--shutdown-timeout=45s'], (c) => c.shutdownTimeoutMs, 45_000],
  [[], (c) => c.logFormat, 'json'],
  [['--log-format', 'text'], (c) => c.logFormat, 'text'],
];
for (const [argv, pick, want] of accepted) {
  test(`daemon flags: accepts ${argv.join(' ')}`, () => assert.equal(pick(parseDaemonArgs([...base, ...argv])), want));
}

// Each refusal names the flag.
const refused: Array<[string[], RegExp]> = [
  [['--exhausted-wait', '9s'], /^--exhausted-wait: 9s is more than 8s; the plugin gives up on the agent after ipam\.timeoutMs \(10s by default\)$/],
  [['--exhausted-wait', 'soon'], /--exhausted-wait/],
  [['--shutdown-timeout', '5'], /^--shutdown-timeout: "5" is not a duration \(use e\.g\. 500ms, 10s, 5m, 1h\)$/],
  [['--gc-interval', '10ms'], /^--gc-interval: must be at least 100ms$/],
  [['--store', 'etcd'], /^--store: "etcd" must be sqlite or kubernetes$/],
  [['--sqlite-sync', 'sometimes'], /^--sqlite-sync: "sometimes" must be normal or full$/],
  [['--log-format', 'logfmt'], /^--log-format: "logfmt" must be json or text$/],
];
for (const [argv, message] of refused) {
  test(`daemon flags: refuses ${argv.join(' ')}`, () => {
    assert.throws(
      () => parseDaemonArgs([...base, ...argv]),
      (err: unknown) => err instanceof TidepoolError && err.code === 'INVALID_CONFIG' && message.test(err.message),
    );
  });
}
