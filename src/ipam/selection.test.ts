import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TidepoolError } from './errors.ts';
import { matchesLabelSelector } from './label-selector.ts';
import type { Pool } from './pool.ts';
import { POOL_API_VERSION, planPool } from './pool.ts';
import type { SelectionInput, SelectionPlan } from './selection.ts';
import { matchesGlob, planPoolSelection } from './selection.ts';

let nextSubnet = 0;
/** Pools for these tests; subnets only need to be valid, so each gets its own. */
function pool(name: string, family: 4 | 6, spec: Record<string, unknown> = {}): Pool {
  const n = nextSubnet++;
  const subnet = family === 4 ? `10.${n}.0.0/24` : `fd00:${n.toString(16)}::/64`;
  return planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name }, spec: { subnet, ...spec } });
}

const POOLS: Pool[] = [
  pool('lan-b', 4),
  pool('lan-a', 4, { default: true }),
  pool('lan-c', 4),
  pool('lan6', 6, { default: true }),
  pool('lan6-b', 6),
  pool('wan', 4),
];

interface Overrides {
  podAnnotations?: Record<string, string>;
  podLabels?: Record<string, string>;
  nsAnnotations?: Record<string, string>;
  nsLabels?: Record<string, string>;
  noNamespace?: boolean;
  node?: { name: string; labels: Record<string, string> };
  ifname?: string;
  multusName?: string | undefined;
  netconf?: SelectionInput['netconf'];
  pools?: Pool[];
  terminating?: string[];
}

function input(o: Overrides = {}): SelectionInput {
  return {
    pod: { namespace: 'default', name: 'web-0', labels: o.podLabels ?? { app: 'web' }, annotations: o.podAnnotations ?? {} },
    namespace: o.noNamespace === true ? undefined : { name: 'default', labels: o.nsLabels ?? { team: 'a' }, annotations: o.nsAnnotations ?? {} },
    node: o.node ?? { name: 'n1', labels: { zone: 'east' } },
    ifname: o.ifname ?? 'eth0',
    multusName: 'multusName' in o ? o.multusName : 'macvlan',
    netconf: o.netconf ?? {},
    pools: o.pools ?? POOLS,
    ...(o.terminating === undefined ? {} : { terminating: new Set(o.terminating) }),
  };
}

interface Summary {
  source: SelectionPlan['source'];
  annotation?: string;
  interfaces: { ifname: string; ipv4: string[]; ipv6: string[] }[];
}

function summarize(plan: SelectionPlan): Summary {
  return {
    source: plan.source,
    ...(plan.annotation === undefined ? {} : { annotation: plan.annotation }),
    interfaces: plan.interfaces.map((i) => ({ ifname: i.ifname, ipv4: i.ipv4.map((p) => p.name), ipv6: i.ipv6.map((p) => p.name) })),
  };
}

const one = (ipv4: string[], ipv6: string[] = [], ifname = 'eth0'): Summary['interfaces'] => [{ ifname, ipv4, ipv6 }];

function expectError(fn: () => unknown, code: string, message: string, details?: Record<string, unknown>): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TidepoolError, `expected TidepoolError, got ${String(err)}`);
    assert.equal(err.message, message);
    assert.equal(err.code, code);
    if (details) assert.deepEqual(err.details, details);
    return true;
  });
}

const T_POOLS = 'ipam.tidepool.dev/ippools';
const S_POOLS = 'ipam.spidernet.io/ippools';
const T_POOL = 'ipam.tidepool.dev/ippool';
const S_POOL = 'ipam.spidernet.io/ippool';
const T_NS4 = 'ipam.tidepool.dev/default-ipv4-ippool';
const T_NS6 = 'ipam.tidepool.dev/default-ipv6-ippool';
const S_NS4 = 'ipam.spidernet.io/default-ipv4-ippool';
const S_NS6 = 'ipam.spidernet.io/default-ipv6-ippool';
const S_NS4_SHORT = 'ipam.spidernet.io/defaultv4ippool';
const S_NS6_SHORT = 'ipam.spidernet.io/defaultv6ippool';
const json = (v: unknown): string => JSON.stringify(v);

describe('planPoolSelection: rules and precedence', () => {
  const every: Overrides = {
    podAnnotations: {
      [T_POOLS]: json([{ interface: 'eth0', ipv4: ['lan-c'] }]),
      [T_POOL]: json({ ipv4: ['lan-b'] }),
    },
    nsAnnotations: { [T_NS4]: json(['wan']) },
    netconf: { ipv4Pools: ['lan-c'], ipv6Pools: ['lan6-b'] },
  };
  const cases: [string, Overrides, Summary][] = [
    ['ippools beats everything', every, { source: 'pod-annotation', annotation: T_POOLS, interfaces: one(['lan-c']) }],
    [
      'ippool beats namespace, netconf and defaults',
      { ...every, podAnnotations: { [T_POOL]: json({ ipv4: ['lan-b'] }) } },
      { source: 'pod-annotation', annotation: T_POOL, interfaces: one(['lan-b']) },
    ],
    [
      'ippool for another interface falls through to the namespace',
      { ...every, podAnnotations: { [T_POOL]: json({ interface: 'net1', ipv4: ['lan-b'] }) } },
      { source: 'namespace-annotation', annotation: T_NS4, interfaces: one(['wan']) },
    ],
    [
      'ippool naming this interface applies',
      { ...every, podAnnotations: { [T_POOL]: json({ interface: 'eth0', ipv6: ['lan6-b'] }) } },
      { source: 'pod-annotation', annotation: T_POOL, interfaces: one([], ['lan6-b']) },
    ],
    [
      'namespace beats netconf and defaults',
      { ...every, podAnnotations: {} },
      { source: 'namespace-annotation', annotation: T_NS4, interfaces: one(['wan']) },
    ],
    [
      'namespace with both families',
      { nsAnnotations: { [T_NS4]: json(['wan']), [T_NS6]: json(['lan6-b']) } },
      { source: 'namespace-annotation', annotation: `${T_NS4}, ${T_NS6}`, interfaces: one(['wan'], ['lan6-b']) },
    ],
    [
      'namespace with IPv6 only',
      { nsAnnotations: { [T_NS6]: json(['lan6-b']) }, netconf: { ipv4Pools: ['lan-c'] } },
      { source: 'namespace-annotation', annotation: T_NS6, interfaces: one([], ['lan6-b']) },
    ],
    [
      'namespace with empty lists falls through to the netconf',
      { nsAnnotations: { [T_NS4]: '[]', [T_NS6]: '[]' }, netconf: { ipv4Pools: ['lan-c'] } },
      { source: 'netconf', interfaces: one(['lan-c']) },
    ],
    [
      'an unreadable namespace is skipped',
      { ...every, podAnnotations: {}, noNamespace: true },
      { source: 'netconf', interfaces: one(['lan-c'], ['lan6-b']) },
    ],
    ['netconf beats defaults', { netconf: { ipv4Pools: ['lan-c'] } }, { source: 'netconf', interfaces: one(['lan-c']) }],
    ['netconf with empty lists falls through to defaults', { netconf: { ipv4Pools: [], ipv6Pools: [] } }, { source: 'default', interfaces: one(['lan-a'], ['lan6']) }],
    ['defaults of both families', {}, { source: 'default', interfaces: one(['lan-a'], ['lan6']) }],
    [
      'defaults keep definition order',
      { pools: [pool('z', 4, { default: true }), pool('y', 4, { default: true }), pool('x', 4)] },
      { source: 'default', interfaces: one(['z', 'y']) },
    ],
    [
      'defaults of one family only',
      { pools: [pool('only6', 6, { default: true }), pool('plain4', 4)] },
      { source: 'default', interfaces: one([], ['only6']) },
    ],
    [
      'other pod annotations are ignored',
      { podAnnotations: { 'example.com/x': '{' }, netconf: { ipv4Pools: ['wan'] } },
      { source: 'netconf', interfaces: one(['wan']) },
    ],
  ];
  for (const [name, o, want] of cases) test(name, () => assert.deepEqual(summarize(planPoolSelection(input(o))), want));
});

describe('planPoolSelection: Spiderpool aliases', () => {
  const cases: [string, Overrides, Summary][] = [
    ['ippools alias', { podAnnotations: { [S_POOLS]: json([{ interface: 'eth0', ipv4: ['wan'] }]) } }, { source: 'pod-annotation', annotation: S_POOLS, interfaces: one(['wan']) }],
    ['ippool alias', { podAnnotations: { [S_POOL]: json({ ipv4: ['wan'] }) } }, { source: 'pod-annotation', annotation: S_POOL, interfaces: one(['wan']) }],
    ['namespace IPv4 alias', { nsAnnotations: { [S_NS4]: json(['wan']) } }, { source: 'namespace-annotation', annotation: S_NS4, interfaces: one(['wan']) }],
    ['namespace IPv6 alias', { nsAnnotations: { [S_NS6]: json(['lan6-b']) } }, { source: 'namespace-annotation', annotation: S_NS6, interfaces: one([], ['lan6-b']) }],
    ["Spiderpool's own IPv4 namespace key", { nsAnnotations: { [S_NS4_SHORT]: json(['wan']) } }, { source: 'namespace-annotation', annotation: S_NS4_SHORT, interfaces: one(['wan']) }],
    [
      "Spiderpool's own IPv6 namespace key",
      { nsAnnotations: { [S_NS6_SHORT]: json(['lan6-b']) } },
      { source: 'namespace-annotation', annotation: S_NS6_SHORT, interfaces: one([], ['lan6-b']) },
    ],
    [
      'tidepool ippools beats its alias (the alias is not even parsed)',
      { podAnnotations: { [S_POOLS]: 'not json', [T_POOLS]: json([{ interface: 'eth0', ipv4: ['wan'] }]) } },
      { source: 'pod-annotation', annotation: T_POOLS, interfaces: one(['wan']) },
    ],
    [
      'tidepool ippool beats its alias',
      { podAnnotations: { [S_POOL]: json({ ipv4: ['lan-b'] }), [T_POOL]: json({ ipv4: ['wan'] }) } },
      { source: 'pod-annotation', annotation: T_POOL, interfaces: one(['wan']) },
    ],
    [
      'tidepool namespace keys beat both aliases, per family',
      {
        nsAnnotations: {
          [S_NS4]: json(['lan-b']),
          [S_NS4_SHORT]: json(['lan-c']),
          [T_NS4]: json(['wan']),
          [S_NS6_SHORT]: json(['lan6-b']),
          [S_NS6]: json(['lan6']),
        },
      },
      { source: 'namespace-annotation', annotation: `${T_NS4}, ${S_NS6}`, interfaces: one(['wan'], ['lan6']) },
    ],
    [
      'the ippools alias still beats the tidepool ippool (rule order first)',
      { podAnnotations: { [T_POOL]: json({ ipv4: ['lan-b'] }), [S_POOLS]: json([{ interface: 'eth0', ipv4: ['wan'] }]) } },
      { source: 'pod-annotation', annotation: S_POOLS, interfaces: one(['wan']) },
    ],
  ];
  for (const [name, o, want] of cases) test(name, () => assert.deepEqual(summarize(planPoolSelection(input(o))), want));
});

describe('planPoolSelection: globs and order', () => {
  const cases: [string, Overrides, string[], string[]][] = [
    ['written order is kept', { netconf: { ipv4Pools: ['wan', 'lan-c', 'lan-a'] } }, ['wan', 'lan-c', 'lan-a'], []],
    ['a glob expands in name order', { netconf: { ipv4Pools: ['lan-*'] } }, ['lan-a', 'lan-b', 'lan-c'], []],
    ['a glob keeps its written position', { netconf: { ipv4Pools: ['wan', 'lan-?'] } }, ['wan', 'lan-a', 'lan-b', 'lan-c'], []],
    ['a pool listed again keeps its first position', { netconf: { ipv4Pools: ['lan-c', 'lan-*', 'lan-c'] } }, ['lan-c', 'lan-a', 'lan-b'], []],
    ['a glob skips pools of the other family', { netconf: { ipv4Pools: ['lan*'], ipv6Pools: ['lan*'] } }, ['lan-a', 'lan-b', 'lan-c'], ['lan6', 'lan6-b']],
    ['a glob matching nothing is fine beside other pools', { netconf: { ipv4Pools: ['nope-*', 'wan'] } }, ['wan'], []],
    ['* matches everything of the family', { netconf: { ipv6Pools: ['*'] } }, [], ['lan6', 'lan6-b']],
    ['globs work in annotations too', { podAnnotations: { [T_POOL]: json({ ipv4: ['*-b'] }) } }, ['lan-b'], []],
  ];
  for (const [name, o, v4, v6] of cases) {
    test(name, () => {
      const plan = planPoolSelection(input(o));
      assert.deepEqual(summarize(plan).interfaces, one(v4, v6));
    });
  }

  const globCases: [string, string, boolean][] = [
    ['lan-*', 'lan-a', true],
    ['lan-*', 'lan-', true],
    ['lan-*', 'lan', false],
    ['*', '', true],
    ['?', '', false],
    ['l?n', 'lan', true],
    ['l?n', 'laan', false],
    ['*a*b', 'xaxxab', true],
    ['*a*b', 'xaxxa', false],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false],
    ['**x', 'abx', true],
  ];
  for (const [pattern, name, want] of globCases) test(`glob ${pattern} vs ${JSON.stringify(name)}`, () => assert.equal(matchesGlob(pattern, name), want));

  test('matchesGlob agrees with a regular-expression translation (property)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '.', '-'), maxLength: 6 });
    const pattern = fc.string({ unit: fc.constantFrom('a', 'b', '.', '*', '?'), maxLength: 6 });
    fc.assert(
      fc.property(pattern, text, (p, t) => {
        const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
        assert.equal(matchesGlob(p, t), re.test(t));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('planPoolSelection: filters', () => {
  const zoned = (spec: Record<string, unknown>): Pool[] => [pool('keep', 4), pool('f', 4, spec)];
  // Each case lists the pool under test after an unrestricted one; `kept` says whether it survives.
  const cases: [string, Overrides, Record<string, unknown>, boolean, string][] = [
    ['disabled', {}, { disable: true }, false, '"f" is disabled'],
    ['terminating', { terminating: ['f'] }, {}, false, '"f" is being deleted'],
    ['nodeName hit', {}, { nodeName: ['n0', 'n1'] }, true, ''],
    ['nodeName miss', {}, { nodeName: ['n2', 'n3'] }, false, '"f" does not match nodeName [n2, n3] for node n1'],
    ['nodeAffinity matchLabels hit', {}, { nodeAffinity: { matchLabels: { zone: 'east' } } }, true, ''],
    ['nodeAffinity matchLabels miss', {}, { nodeAffinity: { matchLabels: { zone: 'west' } } }, false, '"f" does not match nodeAffinity zone=west for node n1'],
    ['nodeAffinity In hit', {}, { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['west', 'east'] }] } }, true, ''],
    [
      'nodeAffinity In miss',
      {},
      { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['west'] }] } },
      false,
      '"f" does not match nodeAffinity zone in (west) for node n1',
    ],
    ['nodeAffinity NotIn hit', {}, { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['west'] }] } }, true, ''],
    [
      'nodeAffinity NotIn miss',
      {},
      { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['east'] }] } },
      false,
      '"f" does not match nodeAffinity zone notin (east) for node n1',
    ],
    ['nodeAffinity Exists hit', {}, { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'Exists' }] } }, true, ''],
    ['nodeAffinity Exists miss', {}, { nodeAffinity: { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] } }, false, '"f" does not match nodeAffinity gpu for node n1'],
    ['nodeAffinity DoesNotExist hit', {}, { nodeAffinity: { matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] } }, true, ''],
    [
      'nodeAffinity DoesNotExist miss',
      {},
      { nodeAffinity: { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] } },
      false,
      '"f" does not match nodeAffinity !zone for node n1',
    ],
    ['namespaceName hit', {}, { namespaceName: ['default'] }, true, ''],
    ['namespaceName miss', {}, { namespaceName: ['kube-system'] }, false, '"f" does not match namespaceName [kube-system] for namespace default'],
    ['namespaceName needs no namespace object', { noNamespace: true }, { namespaceName: ['default'] }, true, ''],
    ['namespaceAffinity hit', {}, { namespaceAffinity: { matchLabels: { team: 'a' } } }, true, ''],
    ['namespaceAffinity miss', {}, { namespaceAffinity: { matchLabels: { team: 'b' } } }, false, '"f" does not match namespaceAffinity team=b for namespace default'],
    [
      'namespaceAffinity with an unreadable namespace',
      { noNamespace: true },
      { namespaceAffinity: { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] } },
      false,
      '"f" has namespaceAffinity !team but namespace default could not be read',
    ],
    ['empty namespaceAffinity with an unreadable namespace', { noNamespace: true }, { namespaceAffinity: {} }, true, ''],
    ['podAffinity hit', {}, { podAffinity: { matchLabels: { app: 'web' } } }, true, ''],
    ['podAffinity miss', {}, { podAffinity: { matchLabels: { app: 'db' } } }, false, '"f" does not match podAffinity app=db for pod default/web-0'],
    ['multusName hit', {}, { multusName: ['ipvlan', 'macvlan'] }, true, ''],
    ['multusName miss', {}, { multusName: ['ipvlan'] }, false, '"f" does not match multusName [ipvlan] for network macvlan'],
    ['multusName without a network name', { multusName: undefined }, { multusName: ['ipvlan'] }, false, '"f" does not match multusName [ipvlan] for this call, which names no network'],
    ['all affinities hold together', {}, { nodeName: ['n1'], nodeAffinity: { matchLabels: { zone: 'east' } }, namespaceName: ['default'], namespaceAffinity: { matchLabels: { team: 'a' } }, podAffinity: { matchLabels: { app: 'web' } }, multusName: ['macvlan'] }, true, ''],
  ];
  for (const [name, o, spec, kept, reason] of cases) {
    test(`${name}: ${kept ? 'kept' : 'dropped'}`, () => {
      const pools = zoned(spec);
      const got = summarize(planPoolSelection(input({ ...o, pools, netconf: { ipv4Pools: ['keep', 'f'] } })));
      assert.deepEqual(got.interfaces, one(kept ? ['keep', 'f'] : ['keep']));
    });
    if (!kept) {
      test(`${name}: the reason is given when nothing is left`, () => {
        expectError(
          () => planPoolSelection(input({ ...o, pools: zoned(spec), netconf: { ipv4Pools: ['f'] } })),
          'NO_POOL',
          `pod default/web-0: no usable IPv4 pool from netconf ipam.ipv4Pools: ${reason}`,
          { pod: 'default/web-0', field: 'ipam.ipv4Pools', interface: 'eth0', family: 4, unusable: [{ pool: 'f', reason }] },
        );
      });
    }
  }

  test('default pools are filtered too', () => {
    const pools = [pool('d-west', 4, { default: true, nodeAffinity: { matchLabels: { zone: 'west' } } }), pool('d-east', 4, { default: true, nodeAffinity: { matchLabels: { zone: 'east' } } })];
    assert.deepEqual(summarize(planPoolSelection(input({ pools }))), { source: 'default', interfaces: one(['d-east']) });
  });

  test('filtered default pools explain themselves', () => {
    const pools = [pool('d4', 4, { default: true, disable: true })];
    expectError(() => planPoolSelection(input({ pools })), 'NO_POOL', 'pod default/web-0: no usable IPv4 pool from the default pools: "d4" is disabled');
  });
});

describe('planPoolSelection: multiple interfaces', () => {
  const annotation = json([
    { interface: 'eth0', ipv4: ['lan-a'], ipv6: ['lan6'] },
    { interface: 'net1', ipv4: ['wan'], cleangateway: true },
    { interface: 'net2', ipv6: ['lan6-b'], cleangateway: false },
  ]);
  const want: Summary = {
    source: 'pod-annotation',
    annotation: T_POOLS,
    interfaces: [
      { ifname: 'eth0', ipv4: ['lan-a'], ipv6: ['lan6'] },
      { ifname: 'net1', ipv4: ['wan'], ipv6: [] },
      { ifname: 'net2', ipv4: [], ipv6: ['lan6-b'] },
    ],
  };
  for (const ifname of ['eth0', 'net1', 'net2']) {
    test(`the plan for ${ifname} lists every interface`, () => {
      assert.deepEqual(summarize(planPoolSelection(input({ ifname, podAnnotations: { [T_POOLS]: annotation } }))), want);
    });
  }

  test('a problem on another interface fails this ADD too', () => {
    const anno = json([
      { interface: 'eth0', ipv4: ['lan-a'] },
      { interface: 'net1', ipv4: ['lan-c'] },
    ]);
    const pools = POOLS.map((p) => (p.name === 'lan-c' ? { ...p, disabled: true } : p));
    expectError(
      () => planPoolSelection(input({ pools, podAnnotations: { [T_POOLS]: anno } })),
      'NO_POOL',
      `pod default/web-0: no usable IPv4 pool for interface net1 from annotation ${T_POOLS}: "lan-c" is disabled`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[1].ipv4', interface: 'net1', family: 4, unusable: [{ pool: 'lan-c', reason: '"lan-c" is disabled' }] },
    );
  });
});

describe('planPoolSelection: errors name the pod, the annotation and the problem', () => {
  const P = 'pod default/web-0';
  const badJson = (text: string): string => {
    try {
      JSON.parse(text);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected invalid JSON');
  };
  const cases: [string, Overrides, string, string, Record<string, unknown>][] = [
    [
      'ippool not JSON',
      { podAnnotations: { [T_POOL]: '{"ipv4": ["a"],}' } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL} is not valid JSON: ${badJson('{"ipv4": ["a"],}')}`,
      { pod: 'default/web-0', annotation: T_POOL },
    ],
    [
      'ippools not JSON',
      { podAnnotations: { [S_POOLS]: '[' } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${S_POOLS} is not valid JSON: ${badJson('[')}`,
      { pod: 'default/web-0', annotation: S_POOLS },
    ],
    [
      'ippools not a list',
      { podAnnotations: { [T_POOLS]: json({ interface: 'eth0' }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS} must be a JSON list of {"interface", "ipv4", "ipv6"} objects, got an object`,
      { pod: 'default/web-0', annotation: T_POOLS },
    ],
    [
      'ippools entry not an object',
      { podAnnotations: { [T_POOLS]: json(['eth0']) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[0] must be an object with interface, ipv4 and/or ipv6, got "eth0"`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[0]' },
    ],
    [
      'ippools interface twice',
      { podAnnotations: { [T_POOLS]: json([{ interface: 'net1', ipv4: ['wan'] }, { interface: 'net1', ipv4: ['lan-a'] }]) }, ifname: 'net1' },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[1].interface "net1" appears twice`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[1].interface' },
    ],
    [
      'ippools interface missing',
      { podAnnotations: { [T_POOLS]: json([{ ipv4: ['wan'] }]) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[0].interface is required`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[0].interface' },
    ],
    [
      'ippools interface not a string',
      { podAnnotations: { [T_POOLS]: json([{ interface: 0, ipv4: ['wan'] }]) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[0].interface must be a string, got 0`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[0].interface' },
    ],
    [
      'ippools interface invalid',
      { podAnnotations: { [T_POOLS]: json([{ interface: 'a-very-long-ifname', ipv4: ['wan'] }]) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[0].interface "a-very-long-ifname" is not a valid interface name`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[0].interface' },
    ],
    [
      'ippools entry without pools',
      { podAnnotations: { [T_POOLS]: json([{ interface: 'eth0', ipv4: [] }]) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[0] names no pool (give ipv4, ipv6 or both)`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[0]' },
    ],
    [
      'ippools unknown field',
      { podAnnotations: { [T_POOLS]: json([{ interface: 'eth0', ipv4: ['wan'], routes: [] }]) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS}[0].routes is not a known field`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[0].routes' },
    ],
    [
      "ippools old Spiderpool list name",
      { podAnnotations: { [S_POOLS]: json([{ interface: 'eth0', ipv4pools: ['wan'] }]) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${S_POOLS}[0].ipv4pools is not a known field (did you mean ipv4?)`,
      { pod: 'default/web-0', annotation: S_POOLS, field: '[0].ipv4pools' },
    ],
    [
      'ippools without this interface',
      { podAnnotations: { [T_POOLS]: json([{ interface: 'eth0', ipv4: ['wan'] }, { interface: 'net1', ipv4: ['lan-a'] }]) }, ifname: 'net2' },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOLS} has no entry for interface net2`,
      { pod: 'default/web-0', annotation: T_POOLS },
    ],
    [
      'ippools pool missing',
      { podAnnotations: { [T_POOLS]: json([{ interface: 'eth0', ipv4: ['wan'] }, { interface: 'net1', ipv6: ['lan6', 'nope'] }]) } },
      'POOL_NOT_FOUND',
      `${P}: annotation ${T_POOLS}[1].ipv6[1]: pool "nope" does not exist`,
      { pod: 'default/web-0', annotation: T_POOLS, field: '[1].ipv6[1]', pool: 'nope' },
    ],
    [
      'ippool not an object',
      { podAnnotations: { [T_POOL]: json(['wan']) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL} must be a JSON object with interface, ipv4 and/or ipv6, got a list`,
      { pod: 'default/web-0', annotation: T_POOL },
    ],
    [
      'ippool unknown field',
      { podAnnotations: { [T_POOL]: json({ ipv4: ['wan'], cleangateway: true }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL}: cleangateway is not a known field`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'cleangateway' },
    ],
    [
      'ippool miscased field',
      { podAnnotations: { [T_POOL]: json({ IPv4: ['wan'] }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL}: IPv4 is not a known field (did you mean ipv4?)`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'IPv4' },
    ],
    [
      'ippool list not a list',
      { podAnnotations: { [T_POOL]: json({ ipv4: 'wan' }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL}: ipv4 must be a list of pool names, got "wan"`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'ipv4' },
    ],
    [
      'ippool name not a string',
      { podAnnotations: { [T_POOL]: json({ ipv6: ['lan6', 6] }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL}: ipv6[1] must be a pool name, got 6`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'ipv6[1]' },
    ],
    [
      'ippool name empty',
      { podAnnotations: { [T_POOL]: json({ ipv4: [''] }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL}: ipv4[0] must be a pool name, got ""`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'ipv4[0]' },
    ],
    [
      'ippool interface invalid',
      { podAnnotations: { [T_POOL]: json({ interface: 'a/b', ipv4: ['wan'] }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL}: interface "a/b" is not a valid interface name`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'interface' },
    ],
    [
      'ippool without pools (checked even for another interface)',
      { podAnnotations: { [T_POOL]: json({ interface: 'net1' }) } },
      'INVALID_ANNOTATION',
      `${P}: annotation ${T_POOL} names no pool (give ipv4, ipv6 or both)`,
      { pod: 'default/web-0', annotation: T_POOL },
    ],
    [
      'ippool pool missing (alias)',
      { podAnnotations: { [S_POOL]: json({ ipv4: ['nope'] }) } },
      'POOL_NOT_FOUND',
      `${P}: annotation ${S_POOL}: ipv4[0]: pool "nope" does not exist`,
      { pod: 'default/web-0', annotation: S_POOL, field: 'ipv4[0]', pool: 'nope' },
    ],
    [
      'ippool pool of the wrong family',
      { podAnnotations: { [T_POOL]: json({ ipv4: ['lan6'] }) } },
      'POOL_FAMILY_MISMATCH',
      `${P}: annotation ${T_POOL}: ipv4[0]: pool "lan6" is IPv6, not IPv4`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'ipv4[0]', pool: 'lan6' },
    ],
    [
      'ippool IPv6 list naming an IPv4 pool',
      { podAnnotations: { [T_POOL]: json({ ipv6: ['lan6', 'wan'] }) } },
      'POOL_FAMILY_MISMATCH',
      `${P}: annotation ${T_POOL}: ipv6[1]: pool "wan" is IPv4, not IPv6`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'ipv6[1]', pool: 'wan' },
    ],
    [
      'a wrong family is an error even when the pool is disabled',
      { podAnnotations: { [T_POOL]: json({ ipv4: ['lan6'] }) }, pools: POOLS.map((p) => ({ ...p, disabled: true })) },
      'POOL_FAMILY_MISMATCH',
      `${P}: annotation ${T_POOL}: ipv4[0]: pool "lan6" is IPv6, not IPv4`,
      { pod: 'default/web-0', annotation: T_POOL, field: 'ipv4[0]', pool: 'lan6' },
    ],
    [
      'namespace annotation not JSON',
      { nsAnnotations: { [T_NS4]: 'wan' } },
      'INVALID_ANNOTATION',
      `${P}: namespace default annotation ${T_NS4} is not valid JSON: ${badJson('wan')}`,
      { pod: 'default/web-0', annotation: T_NS4, namespace: 'default' },
    ],
    [
      'namespace annotation not a list',
      { nsAnnotations: { [S_NS6]: '"lan6"' } },
      'INVALID_ANNOTATION',
      `${P}: namespace default annotation ${S_NS6} must be a JSON list of pool names, got "lan6"`,
      { pod: 'default/web-0', annotation: S_NS6, namespace: 'default' },
    ],
    [
      'namespace annotation item not a string',
      { nsAnnotations: { [T_NS4]: json(['wan', null]) } },
      'INVALID_ANNOTATION',
      `${P}: namespace default annotation ${T_NS4}[1] must be a pool name, got null`,
      { pod: 'default/web-0', annotation: T_NS4, namespace: 'default', field: '[1]' },
    ],
    [
      'namespace annotation pool missing',
      { nsAnnotations: { [T_NS6]: json(['gone']) } },
      'POOL_NOT_FOUND',
      `${P}: namespace default annotation ${T_NS6}[0]: pool "gone" does not exist`,
      { pod: 'default/web-0', annotation: T_NS6, namespace: 'default', field: '[0]', pool: 'gone' },
    ],
    [
      'namespace annotation wrong family',
      { nsAnnotations: { [T_NS4]: json(['lan6']) } },
      'POOL_FAMILY_MISMATCH',
      `${P}: namespace default annotation ${T_NS4}[0]: pool "lan6" is IPv6, not IPv4`,
      { pod: 'default/web-0', annotation: T_NS4, namespace: 'default', field: '[0]', pool: 'lan6' },
    ],
    [
      'namespace annotation with nothing usable',
      { nsAnnotations: { [T_NS4]: json(['lan-c']) }, pools: POOLS.map((p) => (p.name === 'lan-c' ? { ...p, disabled: true } : p)) },
      'NO_POOL',
      `${P}: no usable IPv4 pool from namespace default annotation ${T_NS4}: "lan-c" is disabled`,
      { pod: 'default/web-0', annotation: T_NS4, namespace: 'default', interface: 'eth0', family: 4, unusable: [{ pool: 'lan-c', reason: '"lan-c" is disabled' }] },
    ],
    [
      'netconf pool missing',
      { netconf: { ipv4Pools: ['wan', 'nope'] } },
      'POOL_NOT_FOUND',
      `${P}: netconf ipam.ipv4Pools[1]: pool "nope" does not exist`,
      { pod: 'default/web-0', field: 'ipam.ipv4Pools[1]', pool: 'nope' },
    ],
    [
      'netconf wrong family',
      { netconf: { ipv6Pools: ['wan'] } },
      'POOL_FAMILY_MISMATCH',
      `${P}: netconf ipam.ipv6Pools[0]: pool "wan" is IPv4, not IPv6`,
      { pod: 'default/web-0', field: 'ipam.ipv6Pools[0]', pool: 'wan' },
    ],
    [
      'netconf with several reasons',
      {
        netconf: { ipv4Pools: ['a', 'b', 'x-*', 'c*'] },
        pools: [pool('a', 4, { disable: true }), pool('b', 4, { nodeName: ['n2', 'n3'] }), pool('c6', 6)],
      },
      'NO_POOL',
      `${P}: no usable IPv4 pool from netconf ipam.ipv4Pools: "x-*" matches no pool; "a" is disabled; "b" does not match nodeName [n2, n3] for node n1; "c6" is IPv6, not IPv4`,
      {
        pod: 'default/web-0',
        field: 'ipam.ipv4Pools',
        interface: 'eth0',
        family: 4,
        unusable: [
          { pool: 'x-*', reason: '"x-*" matches no pool' },
          { pool: 'a', reason: '"a" is disabled' },
          { pool: 'b', reason: '"b" does not match nodeName [n2, n3] for node n1' },
          { pool: 'c6', reason: '"c6" is IPv6, not IPv4' },
        ],
      },
    ],
    [
      'the brief example: disabled and nodeName',
      { netconf: { ipv4Pools: ['a', 'b'] }, pools: [pool('a', 4, { disable: true }), pool('b', 4, { nodeName: ['n2', 'n3'] })] },
      'NO_POOL',
      `${P}: no usable IPv4 pool from netconf ipam.ipv4Pools: "a" is disabled; "b" does not match nodeName [n2, n3] for node n1`,
      {},
    ],
    [
      'nothing requested anywhere',
      { pools: [pool('plain', 4)] },
      'NO_POOL',
      `${P}: no pool requested for interface eth0: no pod or namespace annotation names one, the netconf has no ipam.ipv4Pools or ipam.ipv6Pools, and no pool has spec.default`,
      { pod: 'default/web-0', interface: 'eth0' },
    ],
  ];
  for (const [name, o, code, message, details] of cases) {
    test(name, () => expectError(() => planPoolSelection(input(o)), code, message, Object.keys(details).length === 0 ? undefined : details));
  }
});

describe('planPoolSelection: properties', () => {
  const zones = fc.constantFrom('east', 'west');
  const selector = fc.oneof(
    fc.constant(undefined),
    zones.map((z) => ({ matchLabels: { zone: z } })),
    zones.map((z) => ({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: [z] }] })),
    fc.constant({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }),
    fc.constant({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }),
  );
  const poolSpec = fc.record({
    family: fc.constantFrom(4 as const, 6 as const),
    default: fc.boolean(),
    disable: fc.boolean(),
    terminating: fc.boolean(),
    nodeName: fc.option(fc.uniqueArray(fc.constantFrom('n1', 'n2'), { minLength: 1 }), { nil: undefined }),
    nodeAffinity: selector,
    namespaceName: fc.option(fc.uniqueArray(fc.constantFrom('default', 'other'), { minLength: 1 }), { nil: undefined }),
    namespaceAffinity: selector,
    podAffinity: selector,
    multusName: fc.option(fc.uniqueArray(fc.constantFrom('m1', 'm2'), { minLength: 1 }), { nil: undefined }),
  });
  const labels = fc.option(zones.map((z) => ({ zone: z })), { nil: {} as Record<string, string> });
  const scenario = fc.record({
    specs: fc.array(poolSpec, { minLength: 1, maxLength: 6 }),
    node: fc.constantFrom('n1', 'n2'),
    nodeLabels: labels,
    namespace: fc.constantFrom('default', 'other'),
    nsLabels: labels,
    nsKnown: fc.boolean(),
    podLabels: labels,
    multusName: fc.option(fc.constantFrom('m1', 'm2'), { nil: undefined }),
    v4: fc.array(fc.constantFrom('p0', 'p1', 'p2', 'p3', 'p*', 'p?', '*'), { maxLength: 3 }),
    v6: fc.array(fc.constantFrom('p0', 'p1', 'p4', 'p5', 'p*'), { maxLength: 3 }),
    via: fc.constantFrom('netconf', 'ippool', 'namespace', 'default'),
  });

  test('never returns a disabled, terminating or wrong-family pool, and every returned pool satisfies its affinities', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        let n = 0;
        const pools = s.specs.map((spec, i) => {
          const subnet = spec.family === 4 ? `10.${n++}.0.0/24` : `fd00:${n++}::/64`;
          const affinity = Object.fromEntries(
            Object.entries({
              nodeName: spec.nodeName,
              nodeAffinity: spec.nodeAffinity,
              namespaceName: spec.namespaceName,
              namespaceAffinity: spec.namespaceAffinity,
              podAffinity: spec.podAffinity,
              multusName: spec.multusName,
            }).filter(([, v]) => v !== undefined),
          );
          return planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: `p${i}` }, spec: { subnet, default: spec.default, disable: spec.disable, ...affinity } });
        });
        const terminating = new Set(pools.filter((_, i) => s.specs[i]?.terminating === true).map((p) => p.name));
        const lists = { ipv4: s.v4, ipv6: s.v6 };
        const sel: SelectionInput = {
          pod: {
            namespace: s.namespace,
            name: 'x',
            labels: s.podLabels,
            annotations: s.via === 'ippool' ? { [T_POOL]: json(lists) } : {},
          },
          namespace: s.nsKnown
            ? { name: s.namespace, labels: s.nsLabels, annotations: s.via === 'namespace' ? { [T_NS4]: json(s.v4), [T_NS6]: json(s.v6) } : {} }
            : undefined,
          node: { name: s.node, labels: s.nodeLabels },
          ifname: 'eth0',
          multusName: s.multusName,
          netconf: s.via === 'netconf' ? { ipv4Pools: s.v4, ipv6Pools: s.v6 } : {},
          pools,
          terminating,
        };
        let plan: SelectionPlan;
        try {
          plan = planPoolSelection(sel);
        } catch (err) {
          assert.ok(err instanceof TidepoolError, String(err));
          assert.ok(['INVALID_ANNOTATION', 'POOL_NOT_FOUND', 'POOL_FAMILY_MISMATCH', 'NO_POOL'].includes(err.code), err.message);
          assert.ok(err.message.startsWith(`pod ${s.namespace}/x: `), err.message);
          return;
        }
        assert.ok(plan.interfaces.length >= 1);
        assert.ok(plan.interfaces.some((i) => i.ipv4.length + i.ipv6.length > 0), 'something is requested');
        for (const itf of plan.interfaces) {
          for (const [family, got] of [
            [4, itf.ipv4],
            [6, itf.ipv6],
          ] as const) {
            assert.equal(new Set(got.map((p) => p.name)).size, got.length, 'no pool twice');
            for (const p of got) {
              const a = p.affinity;
              assert.equal(p.family, family, `${p.name} family`);
              assert.equal(p.disabled, false, `${p.name} disabled`);
              assert.ok(!terminating.has(p.name), `${p.name} terminating`);
              assert.ok(a.nodeName === undefined || a.nodeName.includes(s.node), `${p.name} nodeName`);
              assert.ok(matchesLabelSelector(a.nodeAffinity, s.nodeLabels), `${p.name} nodeAffinity`);
              assert.ok(a.namespaceName === undefined || a.namespaceName.includes(s.namespace), `${p.name} namespaceName`);
              if (a.namespaceAffinity !== undefined) {
                assert.ok(s.nsKnown && matchesLabelSelector(a.namespaceAffinity, s.nsLabels), `${p.name} namespaceAffinity`);
              }
              assert.ok(matchesLabelSelector(a.podAffinity, s.podLabels), `${p.name} podAffinity`);
              assert.ok(a.multusName === undefined || (s.multusName !== undefined && a.multusName.includes(s.multusName)), `${p.name} multusName`);
            }
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('routes and the default-route interface', () => {
  const T_ROUTES = 'ipam.tidepool.dev/routes';
  const gwPool = pool('gw4', 4, { gateway: undefined });
  const net = gwPool.subnet.network;
  const base = `10.${Number((net >> 16n) & 255n)}.0`;
  const pools = [...POOLS, gwPool];

  test('each route goes to the interface whose candidate pools hold its gateway; host bits of dst are cleared', () => {
    const plan = planPoolSelection(input({ pools, netconf: { ipv4Pools: ['gw4'] }, podAnnotations: { [T_ROUTES]: json([{ dst: '198.51.100.7/24', gw: `${base}.1` }]) } }));
    assert.deepEqual(plan.routes, [{ ifname: 'eth0', dst: '198.51.100.0/24', gw: `${base}.1` }]);
    assert.equal(plan.defaultRouteInterface, 'eth0');
  });

  test("Spiderpool's key works; tidepool's wins when both are there", () => {
    const spider = planPoolSelection(input({ pools, netconf: { ipv4Pools: ['gw4'] }, podAnnotations: { 'ipam.spidernet.io/routes': json([{ dst: '192.0.2.0/24', gw: `${base}.2` }]) } }));
    assert.deepEqual(spider.routes.map((r) => r.gw), [`${base}.2`]);
    const both = planPoolSelection(
      input({ pools, netconf: { ipv4Pools: ['gw4'] }, podAnnotations: { 'ipam.spidernet.io/routes': json([{ dst: '192.0.2.0/24', gw: `${base}.2` }]), [T_ROUTES]: '[]' } }),
    );
    assert.deepEqual(both.routes, []);
  });

  test('a malformed routes annotation is refused, naming pod, annotation and entry', () => {
    const at = (value: string) => () => planPoolSelection(input({ pools, netconf: { ipv4Pools: ['gw4'] }, podAnnotations: { [T_ROUTES]: value } }));
    const cases: Array<[string, RegExp]> = [
      ['{"dst":"10.0.0.0/8"}', /^pod default\/web-0: annotation ipam\.tidepool\.dev\/routes must be a JSON list of \{"dst", "gw"\} objects, got an object$/],
      ['[1]', /routes\[0\] must be an object with dst and gw, got 1$/],
      ['[{"gw":"10.0.0.1"}]', /routes\[0\]\.dst is required$/],
      ['[{"dst":"10.0.0.0/8"}]', /routes\[0\]\.gw is required$/],
      ['[{"dst":"nope","gw":"10.0.0.1"}]', /routes\[0\]\.dst "nope" is not a CIDR/],
      ['[{"dst":"10.0.0.0/33","gw":"10.0.0.1"}]', /routes\[0\]\.dst "10\.0\.0\.0\/33" is not a CIDR/],
      ['[{"dst":"10.0.0.0/8","gw":"10.0.0.256"}]', /routes\[0\]\.gw "10\.0\.0\.256" is not an IP address$/],
      ['[{"dst":"10.0.0.0/8","gw":"172.16.0.1"}]', /routes\[0\]\.gw "172\.16\.0\.1" is outside every subnet of interface eth0 \(eth0: 10\.\d+\.0\.0\/24\)$/],
      ['[{"dst":"10.0.0.0/8","gw":"10.0.0.1","table":5}]', /routes\[0\]\.table is not a known field$/],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(at(value), (err: unknown) => err instanceof TidepoolError && err.code === 'INVALID_ANNOTATION' && pattern.test(err.message), value);
    }
  });

  test('cleangateway in the multi-interface annotation is kept per interface, and must be a boolean', () => {
    const plan = planPoolSelection(input({ pools, podAnnotations: { [T_POOLS]: json([{ interface: 'eth0', ipv4: ['gw4'], cleangateway: true }, { interface: 'net1', ipv4: ['lan-b'] }]) } }));
    assert.deepEqual(plan.interfaces.map((i) => [i.ifname, i.cleanGateway]), [['eth0', true], ['net1', undefined]]);
    expectError(
      () => planPoolSelection(input({ pools, podAnnotations: { [T_POOLS]: json([{ interface: 'eth0', ipv4: ['gw4'], cleangateway: 'yes' }]) } })),
      'INVALID_ANNOTATION',
      'pod default/web-0: annotation ipam.tidepool.dev/ippools[0].cleangateway must be true or false, got "yes"',
    );
  });

  test('the default-route interface is eth0 unless the pod names another', () => {
    const named = planPoolSelection(input({ pools, ifname: 'net1', netconf: { ipv4Pools: ['gw4'] }, podAnnotations: { 'ipam.spidernet.io/default-route-nic': 'net1' } }));
    assert.equal(named.defaultRouteInterface, 'net1');
    expectError(
      () => planPoolSelection(input({ pools, netconf: { ipv4Pools: ['gw4'] }, podAnnotations: { 'ipam.tidepool.dev/default-route-nic': 'a/b' } })),
      'INVALID_ANNOTATION',
      'pod default/web-0: annotation ipam.tidepool.dev/default-route-nic "a/b" is not a valid interface name',
    );
  });
});
