import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocateResponse } from '../api/protocol.ts';
import { ERROR_CODES, ERROR_TABLE, TidepoolError } from '../ipam/errors.ts';
import { planError, planResult, planVersionResult } from './result.ts';
import { SUPPORTED_VERSIONS } from './versions.ts';

const dualStack: AllocateResponse = {
  ips: [
    { address: '10.1.0.5/24', family: 4, gateway: '10.1.0.1', pool: 'blue' },
    { address: 'fd00:1::5/64', family: 6, pool: 'blue6' },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }],
};

test('planResult puts version on IPs before 1.0.0 only, never interface, and omits absent gateways', () => {
  const cases = [
    ['0.3.0', true],
    ['0.3.1', true],
    ['0.4.0', true],
    ['1.0.0', false],
    ['1.1.0', false],
  ] as const;
  for (const [version, withFamily] of cases) {
    const expected = {
      cniVersion: version,
      ips: withFamily
        ? [
            { version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1' },
            { version: '6', address: 'fd00:1::5/64' },
          ]
        : [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }, { address: 'fd00:1::5/64' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }],
      dns: {},
    };
    // Compare the JSON text: it is what the runtime reads, key order and all.
    assert.equal(JSON.stringify(planResult(version, dualStack)), JSON.stringify(expected), version);
  }
  assert.equal(SUPPORTED_VERSIONS.length, cases.length);
});

test('planResult copes with no IPs and no routes', () => {
  assert.equal(JSON.stringify(planResult('1.0.0', { ips: [], routes: [] })), '{"cniVersion":"1.0.0","ips":[],"routes":[],"dns":{}}');
  const noGw = planResult('0.3.1', { ips: [{ address: '10.0.0.2/32', family: 4, gateway: '', pool: 'p' }], routes: [{ dst: '10.0.0.0/8', gw: '' }] });
  assert.deepEqual(noGw.ips, [{ version: '4', address: '10.0.0.2/32' }]);
  assert.deepEqual(noGw.routes, [{ dst: '10.0.0.0/8' }]);
});

test('planVersionResult echoes the version and lists every supported one', () => {
  assert.deepEqual(planVersionResult('0.4.0'), { cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
});

test('planError maps every tidepool code to its CNI code and keeps the code in details', () => {
  for (const code of ERROR_CODES) {
    const out = planError('1.0.0', new TidepoolError(code, `m-${code}`));
    assert.deepEqual(out, { cniVersion: '1.0.0', code: ERROR_TABLE[code].cni, msg: `m-${code}`, details: code });
  }
  const withDetails = planError('0.3.1', new TidepoolError('POOL_EXHAUSTED', 'pool blue has no free IP', { pool: 'blue' }));
  assert.deepEqual(withDetails, { cniVersion: '0.3.1', code: 100, msg: 'pool blue has no free IP', details: 'POOL_EXHAUSTED {"pool":"blue"}' });
  assert.equal(planError('1.1.0', new TidepoolError('INTERNAL', 'x', {})).details, 'INTERNAL');
});
