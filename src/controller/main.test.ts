import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TidepoolError } from '../ipam/errors.ts';
import { parseControllerArgs } from './main.ts';

const base = ['--namespace', 'kube-system'];

describe('parseControllerArgs', () => {
  test('defaults match the chart and client-go leader election', () => {
    const c = parseControllerArgs(base, { POD_NAME: 'tidepool-controller-7d9f-abcde' });
    assert.equal(c.namespace, 'kube-system');
    assert.equal(c.leaseName, 'tidepool-controller');
    assert.equal(c.identity, 'tidepool-controller-7d9f-abcde');
    assert.deepEqual(c.leaderElection, { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    assert.deepEqual(c.webhookListen, { host: '0.0.0.0', port: 9443 });
    assert.equal(c.webhookConfigName, 'tidepool');
    assert.deepEqual(c.metricsListen, { host: '127.0.0.1', port: 9715 });
    assert.equal(c.logLevel, 'info');
    assert.equal(c.kubeconfig, undefined);
  });

  test('identity: --identity, else POD_NAME, else hostname_pid', () => {
    assert.equal(parseControllerArgs([...base, '--identity', 'x'], { POD_NAME: 'p' }).identity, 'x');
    assert.match(parseControllerArgs(base, {}).identity, new RegExp(`_${process.pid}$`));
  });

  test('off disables the webhook and metrics; IPv6 hosts in brackets', () => {
    const c = parseControllerArgs([...base, '--webhook-listen', 'off', '--metrics-listen', '[::1]:0'], {});
    assert.equal(c.webhookListen, undefined);
    assert.deepEqual(c.metricsListen, { host: '::1', port: 0 });
  });

  const errors: Array<[string[], string]> = [
    [[], '--namespace is required'],
    [['--namespace', 'Kube_System'], '--namespace: "Kube_System" is not a namespace name'],
    [[...base, '--lease-name', 'Bad Name'], '--lease-name: "Bad Name" is not a valid object name'],
    [[...base, '--webhook-config-name', 'tidepool_'], '--webhook-config-name: "tidepool_" is not a valid object name'],
    [[...base, '--webhook-listen', '9443'], '--webhook-listen: "9443" must be HOST:PORT or off'],
    [[...base, '--metrics-listen', 'h:70000'], '--metrics-listen: "h:70000" must be HOST:PORT or off'],
    [[...base, '--log-level', 'loud'], '--log-level: "loud" must be debug, info, warn or error'],
    [[...base, '--log-format', 'xml'], '--log-format: "xml" must be json or text'],
    [[...base, '--lease-duration', 'soon'], '--lease-duration: "soon" is not a duration'],
    [[...base, '--lease-duration', '500ms'], '--lease-duration: must be at least 1s'],
    [[...base, '--renew-deadline', '15s'], '--renew-deadline: 15s must be shorter than --lease-duration 15s'],
    [[...base, '--retry-period', '10s'], '--retry-period: 10s must be above 0 and shorter than --renew-deadline 10s'],
    [[...base, '--identity', ''], '--identity: must not be empty'],
    [[...base, '--pools', 'x.yaml'], "tidepool controller: Unknown option '--pools'"],
  ];
  for (const [argv, message] of errors) {
    test(`refuses ${argv.slice(-2).join(' ') || 'no flags'}`, () => {
      assert.throws(
        () => parseControllerArgs(argv, { POD_NAME: 'p' }),
        (err: unknown) => err instanceof TidepoolError && err.code === 'INVALID_CONFIG' && err.message.startsWith(message),
        message,
      );
    });
  }
});
