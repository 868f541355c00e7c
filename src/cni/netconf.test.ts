import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SOCKET } from '../api/protocol.ts';
import { TidepoolError } from '../ipam/errors.ts';
import type { ErrorCode } from '../ipam/errors.ts';
import { DEFAULT_TIMEOUT_MS, decodeNetconf, parseIpam, parseNetconf, parseValidAttachments, peekVersion } from './netconf.ts';
import type { JsonObject } from './netconf.ts';
import type { Verb } from './versions.ts';

const conf = (over: JsonObject = {}, ipam: JsonObject = {}): JsonObject => ({
  cniVersion: '1.0.0',
  name: 'underlay',
  type: 'macvlan',
  ipam: { type: 'tidepool', ...ipam },
  ...over,
});

function fails(code: ErrorCode, message: RegExp, field?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof TidepoolError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    if (field !== undefined) assert.equal(err.details?.['field'], field);
    return true;
  };
}

test('decodeNetconf: empty and non-JSON input is DECODE_FAILED, non-objects INVALID_CONFIG', () => {
  assert.throws(() => decodeNetconf(''), fails('DECODE_FAILED', /is empty/));
  assert.throws(() => decodeNetconf(' \n'), fails('DECODE_FAILED', /is empty/));
  assert.throws(() => decodeNetconf('{"cniVersion":'), fails('DECODE_FAILED', /not valid JSON/));
  for (const text of ['[]', '"x"', 'null', '42']) assert.throws(() => decodeNetconf(text), fails('INVALID_CONFIG', /must be a JSON object/), text);
  assert.deepEqual(decodeNetconf('{"a":1}'), { a: 1 });
});

test('peekVersion only reports supported versions', () => {
  assert.equal(peekVersion({ cniVersion: '0.3.1' }), '0.3.1');
  assert.equal(peekVersion({ cniVersion: '0.2.0' }), undefined);
  assert.equal(peekVersion({ cniVersion: 1 }), undefined);
  assert.equal(peekVersion(undefined), undefined);
});

test('parseNetconf applies defaults and ignores other top-level keys', () => {
  const c = parseNetconf(conf({ runtimeConfig: { ips: ['10.0.0.1/24'] }, args: { cni: { ips: [] } }, master: 'eth1' }), 'ADD');
  assert.deepEqual(c, {
    cniVersion: '1.0.0',
    name: 'underlay',
    ipam: { type: 'tidepool', socket: DEFAULT_SOCKET, ipv4Pools: undefined, ipv6Pools: undefined, timeoutMs: DEFAULT_TIMEOUT_MS, strictDel: false, cleanGateway: undefined, ipConflictDetection: undefined, gatewayDetection: undefined, detectionTimeoutMs: undefined },
    validAttachments: undefined,
    prevAddresses: undefined,
  });
  const full = parseIpam({
    type: 'tidepool',
    socket: '/tmp/a.sock',
    ipv4Pools: ['blue', 'green'],
    ipv6Pools: ['blue6'],
    timeoutMs: 2500,
    strictDel: true,
    clean_gateway: true,
    ipConflictDetection: false,
    gatewayDetection: true,
    detectionTimeoutMs: 200,
  });
  assert.deepEqual(full, {
    type: 'tidepool',
    socket: '/tmp/a.sock',
    ipv4Pools: ['blue', 'green'],
    ipv6Pools: ['blue6'],
    timeoutMs: 2500,
    strictDel: true,
    cleanGateway: true,
    ipConflictDetection: false,
    gatewayDetection: true,
    detectionTimeoutMs: 200,
  });
});

test('parseIpam names a wrong route or detection setting', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ clean_gateway: 'yes' }, 'ipam.clean_gateway', /^ipam\.clean_gateway must be a boolean$/],
    [{ ipConflictDetection: 1 }, 'ipam.ipConflictDetection', /^ipam\.ipConflictDetection must be a boolean$/],
    [{ gatewayDetection: 'on' }, 'ipam.gatewayDetection', /^ipam\.gatewayDetection must be a boolean$/],
    [{ detectionTimeoutMs: 0 }, 'ipam.detectionTimeoutMs', /^ipam\.detectionTimeoutMs must be an integer number of milliseconds from 1 to 2000$/],
    [{ detectionTimeoutMs: 2001 }, 'ipam.detectionTimeoutMs', /from 1 to 2000/],
    [{ detectionTimeoutMs: '100ms' }, 'ipam.detectionTimeoutMs', /from 1 to 2000/],
    [{ detectionTimeoutMs: 1.5 }, 'ipam.detectionTimeoutMs', /from 1 to 2000/],
  ];
  for (const [extra, field, pattern] of cases) {
    assert.throws(
      () => parseIpam({ type: 'tidepool', ...extra }),
      (err: unknown) => err instanceof TidepoolError && err.code === 'INVALID_CONFIG' && err.details?.['field'] === field && pattern.test(err.message),
      JSON.stringify(extra),
    );
  }
});

test('parseNetconf names the offending field', () => {
  const cases: Array<[string, JsonObject, ErrorCode, RegExp, string?]> = [
    ['no cniVersion', conf({ cniVersion: undefined }), 'INVALID_CONFIG', /^cniVersion must be a non-empty string$/, 'cniVersion'],
    ['numeric cniVersion', conf({ cniVersion: 1 }), 'INVALID_CONFIG', /^cniVersion must be a non-empty string$/],
    ['old cniVersion', conf({ cniVersion: '0.2.0' }), 'INCOMPATIBLE_VERSION', /"0\.2\.0" is not supported; tidepool supports 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0, 1\.1\.0/],
    ['future cniVersion', conf({ cniVersion: '2.0.0' }), 'INCOMPATIBLE_VERSION', /"2\.0\.0" is not supported/],
    ['no name', conf({ name: undefined }), 'INVALID_CONFIG', /^name must be a non-empty string$/, 'name'],
    ['empty name', conf({ name: '' }), 'INVALID_CONFIG', /^name must be a non-empty string$/, 'name'],
    ['no ipam', conf({ ipam: undefined }), 'INVALID_CONFIG', /^ipam is required$/, 'ipam'],
    ['ipam array', conf({ ipam: [] }), 'INVALID_CONFIG', /^ipam must be an object$/, 'ipam'],
    ['unknown ipam key', conf({}, { subnet: '10.0.0.0/24' }), 'INVALID_CONFIG', /^ipam\.subnet is not a known field$/, 'ipam.subnet'],
    ['ipam runtimeConfig is not a passthrough', conf({}, { foo: 1 }), 'INVALID_CONFIG', /^ipam\.foo is not a known field$/, 'ipam.foo'],
    ['no ipam.type', conf({ ipam: { socket: '/a' } }), 'INVALID_CONFIG', /^ipam\.type must be a non-empty string$/, 'ipam.type'],
    ['relative socket', conf({}, { socket: 'run/agent.sock' }), 'INVALID_CONFIG', /^ipam\.socket must be an absolute path$/, 'ipam.socket'],
    ['numeric socket', conf({}, { socket: 3 }), 'INVALID_CONFIG', /^ipam\.socket must be a string$/, 'ipam.socket'],
    ['long socket', conf({}, { socket: '/' + 'a'.repeat(107) }), 'INVALID_CONFIG', /^ipam\.socket must be at most 107 bytes/, 'ipam.socket'],
    ['NUL in socket', conf({}, { socket: '/a\0b' }), 'INVALID_CONFIG', /must not contain NUL/, 'ipam.socket'],
    ['pools not array', conf({}, { ipv4Pools: 'blue' }), 'INVALID_CONFIG', /^ipam\.ipv4Pools must be an array of pool names$/, 'ipam.ipv4Pools'],
    ['pools empty', conf({}, { ipv6Pools: [] }), 'INVALID_CONFIG', /^ipam\.ipv6Pools must not be empty \(omit it to use the default pool\)$/],
    ['pool not string', conf({}, { ipv4Pools: ['blue', 7] }), 'INVALID_CONFIG', /^ipam\.ipv4Pools\[1\] must be a non-empty string$/, 'ipam.ipv4Pools[1]'],
    ['pool blank', conf({}, { ipv4Pools: ['  '] }), 'INVALID_CONFIG', /^ipam\.ipv4Pools\[0\] must be a non-empty string$/],
    ['pool repeated', conf({}, { ipv6Pools: ['a', 'b', 'a'] }), 'INVALID_CONFIG', /^ipam\.ipv6Pools\[2\] repeats ipam\.ipv6Pools\[0\] \("a"\)$/],
    ['timeout zero', conf({}, { timeoutMs: 0 }), 'INVALID_CONFIG', /^ipam\.timeoutMs must be an integer from 1 to 600000$/, 'ipam.timeoutMs'],
    ['timeout fractional', conf({}, { timeoutMs: 1.5 }), 'INVALID_CONFIG', /^ipam\.timeoutMs must be an integer/],
    ['timeout string', conf({}, { timeoutMs: '10s' }), 'INVALID_CONFIG', /^ipam\.timeoutMs must be an integer/],
    ['timeout huge', conf({}, { timeoutMs: 600_001 }), 'INVALID_CONFIG', /^ipam\.timeoutMs must be an integer/],
    ['strictDel string', conf({}, { strictDel: 'yes' }), 'INVALID_CONFIG', /^ipam\.strictDel must be a boolean$/, 'ipam.strictDel'],
  ];
  for (const [name, doc, code, message, field] of cases) assert.throws(() => parseNetconf(doc, 'ADD'), fails(code, message, field), name);
});

test('parseNetconf: each verb needs a version that defines it', () => {
  const allowed: Record<string, Verb[]> = {
    '0.3.0': ['ADD', 'DEL'],
    '0.3.1': ['ADD', 'DEL'],
    '0.4.0': ['ADD', 'DEL', 'CHECK'],
    '1.0.0': ['ADD', 'DEL', 'CHECK'],
    '1.1.0': ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'],
  };
  for (const [version, verbs] of Object.entries(allowed)) {
    for (const verb of ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'] as const) {
      const doc = conf({ cniVersion: version, 'cni.dev/valid-attachments': [] });
      if (verbs.includes(verb)) assert.equal(parseNetconf(doc, verb).cniVersion, version, `${verb} ${version}`);
      else assert.throws(() => parseNetconf(doc, verb), fails('INCOMPATIBLE_VERSION', new RegExp(`^cniVersion ${version.replace(/\./g, '\\.')} does not define ${verb}; it needs cniVersion`)), `${verb} ${version}`);
    }
  }
});

test('GC reads cni.dev/valid-attachments, falling back to cni.dev/attachments', () => {
  const a = [{ containerID: 'c1', ifname: 'eth0' }];
  const b = [{ containerID: 'c2', ifname: 'net1' }];
  assert.deepEqual(parseValidAttachments({ 'cni.dev/valid-attachments': a }), [{ containerId: 'c1', ifname: 'eth0' }]);
  assert.deepEqual(parseValidAttachments({ 'cni.dev/attachments': b }), [{ containerId: 'c2', ifname: 'net1' }]);
  assert.deepEqual(parseValidAttachments({ 'cni.dev/valid-attachments': a, 'cni.dev/attachments': b }), [{ containerId: 'c1', ifname: 'eth0' }]);
  assert.deepEqual(parseValidAttachments({ 'cni.dev/valid-attachments': [] }), []);
  assert.deepEqual(parseNetconf(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': a }), 'GC').validAttachments, [{ containerId: 'c1', ifname: 'eth0' }]);
  assert.equal(parseNetconf(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': a }), 'ADD').validAttachments, undefined);

  const cases: Array<[JsonObject, RegExp]> = [
    [{}, /^cni\.dev\/valid-attachments is required for GC$/],
    [{ 'cni.dev/valid-attachments': {} }, /^cni\.dev\/valid-attachments must be an array$/],
    [{ 'cni.dev/attachments': 'x' }, /^cni\.dev\/attachments must be an array$/],
    [{ 'cni.dev/valid-attachments': [null] }, /^cni\.dev\/valid-attachments\[0\] must be an object with containerID and ifname$/],
    [{ 'cni.dev/valid-attachments': [...a, { containerId: 'c', ifname: 'eth0' }] }, /^cni\.dev\/valid-attachments\[1\]\.containerID must be a string$/],
    [{ 'cni.dev/valid-attachments': [{ containerID: '', ifname: 'eth0' }] }, /^cni\.dev\/valid-attachments\[0\]\.containerID must not be empty$/],
    [{ 'cni.dev/valid-attachments': [{ containerID: 'c' }] }, /^cni\.dev\/valid-attachments\[0\]\.ifname must be a string$/],
    [{ 'cni.dev/valid-attachments': [{ containerID: 'c', ifname: 'a'.repeat(16) }] }, /\[0\]\.ifname must be at most 15 bytes$/],
  ];
  for (const [doc, message] of cases) assert.throws(() => parseValidAttachments(doc), fails('INVALID_CONFIG', message), message.source);
});

test('CHECK takes the addresses of prevResult.ips when there are any', () => {
  const check = (prevResult: unknown) => parseNetconf(conf({ prevResult }), 'CHECK').prevAddresses;
  assert.deepEqual(check({ ips: [{ address: '10.0.0.5/24' }, { version: '6', address: 'fd00::5/64' }, { junk: 1 }] }), ['10.0.0.5/24', 'fd00::5/64']);
  assert.equal(check(undefined), undefined);
  assert.equal(check({ ips: [] }), undefined);
  assert.equal(check({ ips: 'x' }), undefined);
  assert.equal(parseNetconf(conf({ prevResult: { ips: [{ address: '10.0.0.5/24' }] } }), 'ADD').prevAddresses, undefined);
});
