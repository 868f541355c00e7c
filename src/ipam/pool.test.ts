import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TidepoolError } from './errors.ts';
import { formatRange, intersectRanges, rangesContain, rangesSize } from './range.ts';
import { formatAddress } from './address.ts';
import type { IPPoolObject, Pool } from './pool.ts';
import { POOL_API_VERSION, planPool, planPools } from './pool.ts';

function obj(name: string, spec: Record<string, unknown>): IPPoolObject {
  return { apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name }, spec: spec as never };
}

const lan = (spec: Record<string, unknown>): IPPoolObject => obj('lan', { subnet: '10.6.0.0/24', ...spec });

function rangesText(p: Pool): string[] {
  return p.ranges.map(formatRange);
}

function expectError(fn: () => unknown, code: string, message: string, details?: Record<string, unknown>): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TidepoolError, `expected TidepoolError, got ${String(err)}`);
    assert.equal(err.message, message);
    assert.equal(err.code, code);
    if (details) assert.deepEqual(err.details, details);
    return true;
  });
}

describe('planPool: valid pools', () => {
  const cases: {
    name: string;
    input: IPPoolObject;
    ranges: string[];
    total: bigint;
    gateway?: string;
    routes?: { dst: string; gw?: string }[];
    isDefault?: boolean;
    disabled?: boolean;
  }[] = [
    {
      name: 'IPv4 defaults to every host address',
      input: lan({}),
      ranges: ['10.6.0.1-10.6.0.254'],
      total: 254n,
    },
    {
      name: 'IPv4 default hosts leave out the gateway',
      input: lan({ gateway: '10.6.0.1' }),
      ranges: ['10.6.0.2-10.6.0.254'],
      total: 253n,
      gateway: '10.6.0.1',
    },
    {
      name: 'gateway in the middle splits the default hosts',
      input: lan({ gateway: '10.6.0.100', excludeIPs: ['10.6.0.200-10.6.0.254'] }),
      ranges: ['10.6.0.1-10.6.0.99', '10.6.0.101-10.6.0.199'],
      total: 198n,
      gateway: '10.6.0.100',
    },
    {
      name: 'explicit ips minus excludeIPs',
      input: lan({ ips: ['10.6.0.10-10.6.0.200', '10.6.0.250'], excludeIPs: ['10.6.0.100-10.6.0.109'], gateway: '10.6.0.1' }),
      ranges: ['10.6.0.10-10.6.0.99', '10.6.0.110-10.6.0.200', '10.6.0.250'],
      total: 90n + 91n + 1n,
      gateway: '10.6.0.1',
    },
    {
      name: 'overlapping and adjacent ips are merged',
      input: lan({ ips: ['10.6.0.20-10.6.0.30', '10.6.0.10-10.6.0.25', '10.6.0.31'] }),
      ranges: ['10.6.0.10-10.6.0.31'],
      total: 22n,
    },
    {
      name: 'explicit ips may list the network address once it is excluded',
      input: lan({ ips: ['10.6.0.0-10.6.0.9'], excludeIPs: ['10.6.0.0'] }),
      ranges: ['10.6.0.1-10.6.0.9'],
      total: 9n,
    },
    { name: 'IPv4 /31 uses both addresses', input: obj('p2p', { subnet: '10.6.0.4/31' }), ranges: ['10.6.0.4-10.6.0.5'], total: 2n },
    { name: 'IPv4 /32 uses its address', input: obj('one', { subnet: '10.6.0.7/32' }), ranges: ['10.6.0.7'], total: 1n },
    {
      name: 'IPv4 /30 has two hosts',
      input: obj('small', { subnet: '10.6.0.4/30' }),
      ranges: ['10.6.0.5-10.6.0.6'],
      total: 2n,
    },
    {
      name: 'IPv6 /64 leaves out the subnet-router anycast address and the gateway',
      input: obj('v6', { subnet: 'fd00::/64', gateway: 'fd00::1' }),
      ranges: ['fd00::2-fd00::ffff:ffff:ffff:ffff'],
      total: (1n << 64n) - 2n,
      gateway: 'fd00::1',
    },
    { name: 'IPv6 /127 uses both addresses', input: obj('v6p2p', { subnet: 'fd00::/127' }), ranges: ['fd00::-fd00::1'], total: 2n },
    {
      name: 'IPv6 text is normalized',
      input: obj('v6', { subnet: 'FD00:0::/120', ips: ['FD00::0010-fd00::0020'], gateway: 'FD00::1' }),
      ranges: ['fd00::10-fd00::20'],
      total: 17n,
      gateway: 'fd00::1',
    },
    {
      name: 'routes are canonicalized; dst host bits are dropped',
      input: lan({
        gateway: '10.6.0.1',
        routes: [{ dst: '0.0.0.0/0', gw: '10.6.0.1' }, { dst: '192.168.7.9/16' }],
      }),
      ranges: ['10.6.0.2-10.6.0.254'],
      total: 253n,
      gateway: '10.6.0.1',
      routes: [{ dst: '0.0.0.0/0', gw: '10.6.0.1' }, { dst: '192.168.0.0/16' }],
    },
    {
      name: 'null optional fields count as absent; flags are read',
      input: lan({ ips: null, excludeIPs: null, gateway: null, routes: null, default: true, disable: true }),
      ranges: ['10.6.0.1-10.6.0.254'],
      total: 254n,
      isDefault: true,
      disabled: true,
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const p = planPool(c.input);
      assert.equal(p.name, c.input.metadata.name);
      assert.deepEqual(rangesText(p), c.ranges);
      assert.equal(p.total, c.total);
      assert.equal(p.total, rangesSize(p.ranges));
      assert.equal(p.gateway === undefined ? undefined : formatAddress(p.gateway), c.gateway);
      assert.deepEqual(p.routes, c.routes ?? []);
      assert.equal(p.isDefault, c.isDefault ?? false);
      assert.equal(p.disabled, c.disabled ?? false);
      assert.equal(p.family, p.subnet.family);
    });
  }

  test('the subnet is parsed', () => {
    const p = planPool(obj('v6', { subnet: 'fd00::/64' }));
    assert.deepEqual(p.subnet, { family: 6, network: 0xfd00n << 112n, prefix: 64 });
    assert.equal(p.family, 6);
  });

  test('metadata may carry other Kubernetes fields', () => {
    const p = planPool({ ...lan({}), metadata: { name: 'lan', namespace: 'x', uid: 'u', labels: { a: 'b' } } });
    assert.equal(p.name, 'lan');
  });
});

describe('planPool: rejections name the pool and the field', () => {
  const cases: [string, unknown, string, Record<string, unknown>][] = [
    ['not an object', 'lan', 'pool: must be an object with apiVersion, kind, metadata and spec, got "lan"', {}],
    ['a list', [], 'pool: must be an object with apiVersion, kind, metadata and spec, got a list', {}],
    [
      'wrong apiVersion, no name',
      { apiVersion: 'v1', kind: 'IPPool', spec: {} },
      'pool: apiVersion must be "tidepool.dev/v1alpha1", got "v1"',
      { field: 'apiVersion' },
    ],
    [
      'wrong apiVersion, named',
      { ...lan({}), apiVersion: 'v1' },
      'pool "lan": apiVersion must be "tidepool.dev/v1alpha1", got "v1"',
      { pool: 'lan', field: 'apiVersion' },
    ],
    [
      'missing apiVersion',
      { kind: 'IPPool', metadata: { name: 'lan' }, spec: {} },
      'pool "lan": apiVersion must be "tidepool.dev/v1alpha1", got nothing',
      { pool: 'lan', field: 'apiVersion' },
    ],
    ['wrong kind', { ...lan({}), kind: 'Pool' }, 'pool "lan": kind must be "IPPool", got "Pool"', { pool: 'lan', field: 'kind' }],
    [
      'metadata not an object',
      { apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: 'lan', spec: {} },
      'pool: metadata must be an object, got "lan"',
      { field: 'metadata' },
    ],
    [
      'missing name',
      { apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: {}, spec: {} },
      'pool: metadata.name must be a lowercase DNS-1123 name, got nothing',
      { field: 'metadata.name' },
    ],
    [
      'numeric name',
      { apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 7 }, spec: {} },
      'pool: metadata.name must be a lowercase DNS-1123 name, got 7',
      { field: 'metadata.name' },
    ],
    ['invalid name', obj('Lan_1', { subnet: '10.6.0.0/24' }), 'pool "Lan_1": metadata.name must be a lowercase DNS-1123 name', { pool: 'Lan_1', field: 'metadata.name' }],
    ['name ending in dash', obj('lan-', { subnet: '10.6.0.0/24' }), 'pool "lan-": metadata.name must be a lowercase DNS-1123 name', { pool: 'lan-', field: 'metadata.name' }],
    [
      'name too long',
      obj('a'.repeat(254), { subnet: '10.6.0.0/24' }),
      `pool "${'a'.repeat(254)}": metadata.name must be a lowercase DNS-1123 name`,
      { pool: 'a'.repeat(254), field: 'metadata.name' },
    ],
    ['spec missing', { apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 'lan' } }, 'pool "lan": spec must be an object, got nothing', { pool: 'lan', field: 'spec' }],
    ['unknown spec field', lan({ vlanId: 7 }), 'pool "lan": spec.vlanId is not a known field', { pool: 'lan', field: 'spec.vlanId' }],
    [
      'miscased spec field',
      lan({ excludeIps: [] }),
      'pool "lan": spec.excludeIps is not a known field (did you mean spec.excludeIPs?)',
      { pool: 'lan', field: 'spec.excludeIps' },
    ],
    ['subnet missing', obj('lan', {}), 'pool "lan": spec.subnet is required', { pool: 'lan', field: 'spec.subnet' }],
    ['subnet not a string', obj('lan', { subnet: 24 }), 'pool "lan": spec.subnet must be a string, got 24', { pool: 'lan', field: 'spec.subnet' }],
    ['subnet unparsable', obj('lan', { subnet: 'abc' }), 'pool "lan": spec.subnet "abc" is not a CIDR', { pool: 'lan', field: 'spec.subnet' }],
    ['subnet without prefix', obj('lan', { subnet: '10.6.0.0' }), 'pool "lan": spec.subnet "10.6.0.0" is not a CIDR', { pool: 'lan', field: 'spec.subnet' }],
    [
      'subnet with host bits',
      obj('lan', { subnet: '10.6.0.5/24' }),
      'pool "lan": spec.subnet "10.6.0.5/24" is not a network address (did you mean 10.6.0.0/24?)',
      { pool: 'lan', field: 'spec.subnet' },
    ],
    [
      'IPv6 subnet with host bits',
      obj('lan', { subnet: 'fd00::1/64' }),
      'pool "lan": spec.subnet "fd00::1/64" is not a network address (did you mean fd00::/64?)',
      { pool: 'lan', field: 'spec.subnet' },
    ],
    ['ips not a list', lan({ ips: '10.6.0.1' }), 'pool "lan": spec.ips must be a list of IPs or a-b ranges, got "10.6.0.1"', { pool: 'lan', field: 'spec.ips' }],
    ['ips item not a string', lan({ ips: [5] }), 'pool "lan": spec.ips[0] must be a string, got 5', { pool: 'lan', field: 'spec.ips[0]' }],
    [
      'reversed range',
      lan({ ips: ['10.6.0.9-10.6.0.5'] }),
      'pool "lan": spec.ips[0] "10.6.0.9-10.6.0.5" is not an IP or an a-b range',
      { pool: 'lan', field: 'spec.ips[0]' },
    ],
    [
      'spaces around dash',
      lan({ ips: ['10.6.0.5', '10.6.0.5 - 10.6.0.9'] }),
      'pool "lan": spec.ips[1] "10.6.0.5 - 10.6.0.9" is not an IP or an a-b range',
      { pool: 'lan', field: 'spec.ips[1]' },
    ],
    [
      'ips outside subnet',
      lan({ ips: ['10.6.0.10', '10.7.0.1'] }),
      'pool "lan": spec.ips[1] "10.7.0.1" is outside subnet 10.6.0.0/24',
      { pool: 'lan', field: 'spec.ips[1]' },
    ],
    [
      'ips range leaving the subnet',
      lan({ ips: ['10.6.0.250-10.6.1.3'] }),
      'pool "lan": spec.ips[0] "10.6.0.250-10.6.1.3" is outside subnet 10.6.0.0/24',
      { pool: 'lan', field: 'spec.ips[0]' },
    ],
    [
      'ips of the other family',
      lan({ ips: ['fd00::1'] }),
      'pool "lan": spec.ips[0] "fd00::1" is IPv6 but spec.subnet is IPv4',
      { pool: 'lan', field: 'spec.ips[0]' },
    ],
    [
      'excludeIPs outside subnet',
      lan({ excludeIPs: ['10.6.0.5', '10.7.0.1'] }),
      'pool "lan": spec.excludeIPs[1] "10.7.0.1" is outside subnet 10.6.0.0/24',
      { pool: 'lan', field: 'spec.excludeIPs[1]' },
    ],
    [
      'excludeIPs unparsable',
      lan({ excludeIPs: ['10.6.0.256'] }),
      'pool "lan": spec.excludeIPs[0] "10.6.0.256" is not an IP or an a-b range',
      { pool: 'lan', field: 'spec.excludeIPs[0]' },
    ],
    [
      'excludeIPs of the other family',
      obj('v6', { subnet: 'fd00::/64', excludeIPs: ['10.0.0.1'] }),
      'pool "v6": spec.excludeIPs[0] "10.0.0.1" is IPv4 but spec.subnet is IPv6',
      { pool: 'v6', field: 'spec.excludeIPs[0]' },
    ],
    ['gateway unparsable', lan({ gateway: '10.6.0' }), 'pool "lan": spec.gateway "10.6.0" is not an IP address', { pool: 'lan', field: 'spec.gateway' }],
    ['gateway not a string', lan({ gateway: true }), 'pool "lan": spec.gateway must be a string, got true', { pool: 'lan', field: 'spec.gateway' }],
    ['gateway outside subnet', lan({ gateway: '10.7.0.1' }), 'pool "lan": spec.gateway "10.7.0.1" is outside subnet 10.6.0.0/24', { pool: 'lan', field: 'spec.gateway' }],
    ['gateway of the other family', lan({ gateway: 'fd00::1' }), 'pool "lan": spec.gateway "fd00::1" is IPv6 but spec.subnet is IPv4', { pool: 'lan', field: 'spec.gateway' }],
    [
      'gateway inside explicit ips',
      lan({ ips: ['10.6.0.50', '10.6.0.1-10.6.0.20'], gateway: '10.6.0.1' }),
      'pool "lan": spec.gateway 10.6.0.1 is inside the allocatable IPs (spec.ips[1] "10.6.0.1-10.6.0.20"); exclude it or change spec.ips',
      { pool: 'lan', field: 'spec.gateway' },
    ],
    [
      'explicit ips include the network address',
      lan({ ips: ['10.6.0.0-10.6.0.20'] }),
      'pool "lan": spec.ips[0] "10.6.0.0-10.6.0.20" includes 10.6.0.0, the network address of subnet 10.6.0.0/24; exclude it or change spec.ips',
      { pool: 'lan', field: 'spec.ips[0]' },
    ],
    [
      'explicit ips include the broadcast address',
      lan({ ips: ['10.6.0.5', '10.6.0.255'] }),
      'pool "lan": spec.ips[1] "10.6.0.255" includes 10.6.0.255, the broadcast address of subnet 10.6.0.0/24; exclude it or change spec.ips',
      { pool: 'lan', field: 'spec.ips[1]' },
    ],
    [
      'explicit ips include the IPv6 subnet-router anycast address',
      obj('v6', { subnet: 'fd00::/64', ips: ['fd00::-fd00::ff'] }),
      'pool "v6": spec.ips[0] "fd00::-fd00::ff" includes fd00::, the subnet-router anycast address of subnet fd00::/64; exclude it or change spec.ips',
      { pool: 'v6', field: 'spec.ips[0]' },
    ],
    ['routes not a list', lan({ routes: {} }), 'pool "lan": spec.routes must be a list, got an object', { pool: 'lan', field: 'spec.routes' }],
    [
      'route not an object',
      lan({ routes: ['0.0.0.0/0'] }),
      'pool "lan": spec.routes[0] must be an object with dst and optional gw, got "0.0.0.0/0"',
      { pool: 'lan', field: 'spec.routes[0]' },
    ],
    ['route dst missing', lan({ routes: [{ gw: '10.6.0.1' }] }), 'pool "lan": spec.routes[0].dst is required', { pool: 'lan', field: 'spec.routes[0].dst' }],
    [
      'route dst not a CIDR',
      lan({ routes: [{ dst: '0.0.0.0/0' }, { dst: 'default' }] }),
      'pool "lan": spec.routes[1].dst "default" is not a CIDR',
      { pool: 'lan', field: 'spec.routes[1].dst' },
    ],
    [
      'route dst of the other family',
      lan({ routes: [{ dst: '::/0' }] }),
      'pool "lan": spec.routes[0].dst "::/0" is IPv6 but spec.subnet is IPv4',
      { pool: 'lan', field: 'spec.routes[0].dst' },
    ],
    [
      'route gw outside subnet',
      lan({ routes: [{ dst: '0.0.0.0/0', gw: '10.7.0.1' }] }),
      'pool "lan": spec.routes[0].gw "10.7.0.1" is outside subnet 10.6.0.0/24',
      { pool: 'lan', field: 'spec.routes[0].gw' },
    ],
    [
      'route unknown field',
      lan({ routes: [{ dst: '0.0.0.0/0', metric: 5 }] }),
      'pool "lan": spec.routes[0].metric is not a known field',
      { pool: 'lan', field: 'spec.routes[0].metric' },
    ],
    ['default not boolean', lan({ default: 'yes' }), 'pool "lan": spec.default must be true or false, got "yes"', { pool: 'lan', field: 'spec.default' }],
    ['disable not boolean', lan({ disable: 1 }), 'pool "lan": spec.disable must be true or false, got 1', { pool: 'lan', field: 'spec.disable' }],
    [
      'explicit ips all excluded',
      lan({ ips: ['10.6.0.10-10.6.0.20'], excludeIPs: ['10.6.0.5-10.6.0.30'] }),
      'pool "lan": no allocatable IPs (spec.ips minus spec.excludeIPs is empty)',
      { pool: 'lan', field: 'spec.ips' },
    ],
    ['explicit ips empty', lan({ ips: [] }), 'pool "lan": no allocatable IPs (spec.ips minus spec.excludeIPs is empty)', { pool: 'lan', field: 'spec.ips' }],
    [
      'default hosts all excluded',
      obj('lan', { subnet: '10.6.0.0/30', gateway: '10.6.0.1', excludeIPs: ['10.6.0.2'] }),
      'pool "lan": no allocatable IPs (the host addresses of 10.6.0.0/30 minus spec.gateway and spec.excludeIPs is empty)',
      { pool: 'lan', field: 'spec.ips' },
    ],
  ];
  for (const [name, input, message, details] of cases) {
    test(name, () => expectError(() => planPool(input), 'INVALID_POOL', message, details));
  }

  test('`where` prefixes the message, with or without a trailing colon', () => {
    expectError(() => planPool(lan({ vlanId: 1 }), 'pools.yaml'), 'INVALID_POOL', 'pools.yaml: pool "lan": spec.vlanId is not a known field');
    expectError(() => planPool(lan({ vlanId: 1 }), 'pools.yaml: '), 'INVALID_POOL', 'pools.yaml: pool "lan": spec.vlanId is not a known field');
  });
});

describe('planPools', () => {
  test('unnamed pools are numbered from 1', () => {
    expectError(
      () => planPools([lan({}), { apiVersion: 'v1', kind: 'IPPool', metadata: {}, spec: {} }], 'pools.yaml'),
      'INVALID_POOL',
      'pools.yaml: pool #2: apiVersion must be "tidepool.dev/v1alpha1", got "v1"',
      { index: 2, field: 'apiVersion' },
    );
  });

  test('named pools keep their index in details', () => {
    expectError(() => planPools([lan({ gateway: 'x' })]), 'INVALID_POOL', 'pool "lan": spec.gateway "x" is not an IP address', {
      pool: 'lan',
      index: 1,
      field: 'spec.gateway',
    });
  });

  test('duplicate names', () => {
    expectError(
      () =>
        planPools([
          obj('a', { subnet: '10.1.0.0/24' }),
          obj('b', { subnet: '10.2.0.0/24' }),
          obj('a', { subnet: '10.3.0.0/24' }),
        ]),
      'INVALID_POOL',
      'pool "a" is defined twice (#1 and #3)',
      { pool: 'a', field: 'metadata.name' },
    );
  });

  const overlapCases: [string, IPPoolObject[], string, string[]][] = [
    [
      'explicit ranges',
      [
        obj('a', { subnet: '10.6.0.0/24', ips: ['10.6.0.1-10.6.0.20'] }),
        obj('b', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.50'] }),
      ],
      'pools "a" and "b" overlap: both hold 10.6.0.10-10.6.0.20',
      ['a', 'b'],
    ],
    [
      'nested subnets',
      [
        obj('x', { subnet: '10.9.0.0/24', ips: ['10.9.0.1'] }),
        obj('big', { subnet: '10.6.0.0/16', excludeIPs: ['10.6.0.5'] }),
        obj('small', { subnet: '10.6.0.0/29' }),
      ],
      'pools "big" and "small" overlap: both hold 10.6.0.1-10.6.0.4, 10.6.0.6',
      ['big', 'small'],
    ],
    [
      'more than three shared ranges',
      [
        obj('a', { subnet: '10.6.0.0/24', ips: ['10.6.0.1', '10.6.0.3', '10.6.0.5', '10.6.0.7'] }),
        obj('b', { subnet: '10.6.0.0/24', ips: ['10.6.0.1-10.6.0.10'] }),
      ],
      'pools "a" and "b" overlap: both hold 10.6.0.1, 10.6.0.3, 10.6.0.5, …',
      ['a', 'b'],
    ],
    [
      'IPv6',
      [obj('a6', { subnet: 'fd00::/64' }), obj('b6', { subnet: 'fd00::/120', ips: ['fd00::10-fd00::1f'] })],
      'pools "a6" and "b6" overlap: both hold fd00::10-fd00::1f',
      ['a6', 'b6'],
    ],
  ];
  for (const [name, input, message, pools] of overlapCases) {
    test(`overlap: ${name}`, () => expectError(() => planPools(input), 'POOL_OVERLAP', message, { pools }));
  }

  test('disjoint ranges of one subnet, and pools of both families, are fine', () => {
    const pools = planPools([
      obj('a', { subnet: '10.6.0.0/24', ips: ['10.6.0.1-10.6.0.9'] }),
      obj('b', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.20'], gateway: '10.6.0.254' }),
      obj('c', { subnet: 'fd00::/64', default: true }),
      obj('d', { subnet: '0.0.0.0/0', ips: ['10.7.0.1'] }),
    ]);
    assert.deepEqual(
      pools.map((p) => p.name),
      ['a', 'b', 'c', 'd'],
    );
    assert.equal(pools[2]?.isDefault, true);
  });

  test('an empty list is fine', () => {
    assert.deepEqual(planPools([]), []);
  });

  test('never returns two pools sharing an IP (property)', () => {
    const spec = fc
      .tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 10 }))
      .map(([s, len]) => `10.6.0.${s}-10.6.0.${Math.min(s + len, 254)}`);
    fc.assert(
      fc.property(fc.array(fc.array(spec, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), (ipLists) => {
        const objs = ipLists.map((ips, i) => obj(`p${i}`, { subnet: '10.6.0.0/24', ips }));
        let pools: Pool[];
        try {
          pools = planPools(objs);
        } catch (err) {
          assert.ok(err instanceof TidepoolError && err.code === 'POOL_OVERLAP', String(err));
          const [a, b] = (err.details?.['pools'] as string[]).map((n) => planPool(objs[Number(n.slice(1))]));
          assert.ok(a && b);
          assert.ok(intersectRanges(a.ranges, b.ranges).length > 0, 'reported pools must really share an IP');
          return;
        }
        for (let v = 0n; v < 256n; v++) {
          const holders = pools.filter((p) => rangesContain(p.ranges, 0x0a060000n + v));
          assert.ok(holders.length <= 1, `10.6.0.${v} held by ${holders.map((p) => p.name).join(', ')}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('planPool: affinity', () => {
  test('absent affinity fields give an unrestricted pool', () => {
    assert.deepEqual(planPool(lan({})).affinity, {});
  });

  test('null affinity fields count as absent', () => {
    const p = planPool(lan({ nodeName: null, nodeAffinity: null, namespaceName: null, namespaceAffinity: null, podAffinity: null, multusName: null }));
    assert.deepEqual(p.affinity, {});
  });

  test('every affinity field is read', () => {
    const p = planPool(
      lan({
        nodeName: ['n1', 'worker-2.example.com'],
        nodeAffinity: { matchLabels: { 'topology.kubernetes.io/zone': 'east' } },
        namespaceName: ['default', 'team-a'],
        namespaceAffinity: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] },
        podAffinity: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
        multusName: ['macvlan-east', 'Net_1.v2'],
      }),
    );
    assert.deepEqual(p.affinity, {
      nodeName: ['n1', 'worker-2.example.com'],
      nodeAffinity: { matchLabels: { 'topology.kubernetes.io/zone': 'east' } },
      namespaceName: ['default', 'team-a'],
      namespaceAffinity: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a', 'b'] }] },
      podAffinity: { matchExpressions: [{ key: 'app', operator: 'Exists' }] },
      multusName: ['macvlan-east', 'Net_1.v2'],
    });
  });

  test('an empty selector is kept and restricts nothing', () => {
    assert.deepEqual(planPool(lan({ podAffinity: {} })).affinity, { podAffinity: {} });
  });

  const cases: [string, Record<string, unknown>, string, string][] = [
    ['nodeName not a list', { nodeName: 'n1' }, 'spec.nodeName must be a list of node names, got "n1"', 'spec.nodeName'],
    ['nodeName empty', { nodeName: [] }, 'spec.nodeName must not be empty (omit it to allow every node)', 'spec.nodeName'],
    ['nodeName item not a string', { nodeName: ['n1', 2] }, 'spec.nodeName[1] must be a string, got 2', 'spec.nodeName[1]'],
    ['nodeName invalid', { nodeName: ['Node_1'] }, 'spec.nodeName[0] "Node_1" is not a valid node name', 'spec.nodeName[0]'],
    ['nodeName twice', { nodeName: ['n1', 'n2', 'n1'] }, 'spec.nodeName[2] "n1" is listed twice', 'spec.nodeName[2]'],
    ['namespaceName empty', { namespaceName: [] }, 'spec.namespaceName must not be empty (omit it to allow every namespace)', 'spec.namespaceName'],
    ['namespaceName with a dot', { namespaceName: ['a.b'] }, 'spec.namespaceName[0] "a.b" is not a valid namespace name', 'spec.namespaceName[0]'],
    ['namespaceName too long', { namespaceName: ['a'.repeat(64)] }, `spec.namespaceName[0] "${'a'.repeat(64)}" is not a valid namespace name`, 'spec.namespaceName[0]'],
    ['multusName not a list', { multusName: {} }, 'spec.multusName must be a list of network names, got an object', 'spec.multusName'],
    ['multusName empty', { multusName: [] }, 'spec.multusName must not be empty (omit it to allow every network)', 'spec.multusName'],
    ['multusName with spaces', { multusName: ['my net'] }, 'spec.multusName[0] "my net" is not a valid network name', 'spec.multusName[0]'],
    [
      'multusName as namespace/name',
      { multusName: ['kube-system/macvlan'] },
      'spec.multusName[0] "kube-system/macvlan" is not a valid network name (multusName matches the netconf name, which has no namespace part)',
      'spec.multusName[0]',
    ],
    [
      'nodeAffinity In without values',
      { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'In', values: [] }] } },
      'spec.nodeAffinity.matchExpressions[0].values must be non-empty for operator In',
      'spec.nodeAffinity.matchExpressions[0].values',
    ],
    [
      'namespaceAffinity Exists with values',
      { namespaceAffinity: { matchExpressions: [{ key: 'team', operator: 'Exists', values: ['a'] }] } },
      'spec.namespaceAffinity.matchExpressions[0].values must be empty for operator Exists',
      'spec.namespaceAffinity.matchExpressions[0].values',
    ],
    [
      'podAffinity bad label key',
      { podAffinity: { matchLabels: { 'app name': 'web' } } },
      'spec.podAffinity.matchLabels key "app name" is not a valid label key',
      'spec.podAffinity.matchLabels["app name"]',
    ],
    ['podAffinity not an object', { podAffinity: 'app=web' }, 'spec.podAffinity must be an object with matchLabels and/or matchExpressions, got "app=web"', 'spec.podAffinity'],
    ['miscased affinity field', { nodeaffinity: {} }, 'spec.nodeaffinity is not a known field (did you mean spec.nodeAffinity?)', 'spec.nodeaffinity'],
    ['cleanGateway not a boolean', { cleanGateway: 'yes' }, 'spec.cleanGateway must be true or false, got "yes"', 'spec.cleanGateway'],
    ['ipConflictDetection not a boolean', { ipConflictDetection: 1 }, 'spec.ipConflictDetection must be true or false, got 1', 'spec.ipConflictDetection'],
    ['gatewayDetection not a boolean', { gatewayDetection: 'on' }, 'spec.gatewayDetection must be true or false, got "on"', 'spec.gatewayDetection'],
    ['detectionTimeoutMs zero', { detectionTimeoutMs: 0 }, 'spec.detectionTimeoutMs must be an integer number of milliseconds from 1 to 2000, got 0', 'spec.detectionTimeoutMs'],
    ['detectionTimeoutMs as a duration', { detectionTimeoutMs: '100ms' }, 'spec.detectionTimeoutMs must be an integer number of milliseconds from 1 to 2000, got "100ms"', 'spec.detectionTimeoutMs'],
    ['detectionTimeoutMs too long', { detectionTimeoutMs: 2001 }, 'spec.detectionTimeoutMs must be an integer number of milliseconds from 1 to 2000, got 2001', 'spec.detectionTimeoutMs'],
  ];
  for (const [name, spec, text, fieldPath] of cases) {
    test(name, () => expectError(() => planPool(lan(spec)), 'INVALID_POOL', `pool "lan": ${text}`, { pool: 'lan', field: fieldPath }));
  }

  test('selector errors carry the file prefix and index like other pool errors', () => {
    expectError(
      () => planPools([lan({ nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'In' }] } })], 'pools.yaml'),
      'INVALID_POOL',
      'pools.yaml: pool "lan": spec.nodeAffinity.matchExpressions[0].values must be non-empty for operator In',
      { pool: 'lan', index: 1, field: 'spec.nodeAffinity.matchExpressions[0].values' },
    );
  });
});

test('cleanGateway and the detection settings are kept as written; absent ones stay absent for the node to decide', () => {
  const p = planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.6.0.0/24', cleanGateway: true, ipConflictDetection: false, gatewayDetection: true, detectionTimeoutMs: 150 } });
  assert.equal(p.cleanGateway, true);
  assert.deepEqual(p.detection, { ipConflict: false, gateway: true, timeoutMs: 150 });
  const bare = planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.6.0.0/24' } });
  assert.equal(bare.cleanGateway, undefined);
  assert.deepEqual(bare.detection, {});
});
