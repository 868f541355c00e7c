import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPoolClaims, planPoolOf } from './claims.ts';
import { POOL_API_VERSION, planPools } from './pool.ts';

const pools = (...specs: Array<[string, Record<string, unknown>]>) =>
  planPools(specs.map(([name, spec]) => ({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name }, spec })));

describe('planPoolClaims', () => {
  const cases: Array<{ name: string; pools: Array<[string, Record<string, unknown>]>; held: Array<[string, string]>; moves: string[]; orphaned: string[] }> = [
    {
      name: 'addresses inside their own pool stay where they are',
      pools: [['a', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.20'] }]],
      held: [['a', '10.0.0.10'], ['a', '10.0.0.20']],
      moves: [],
      orphaned: [],
    },
    {
      name: 'a pool renamed with the same range takes over its addresses',
      pools: [['pool-c', { subnet: '10.250.6.0/24', ips: ['10.250.6.10-10.250.6.20'] }]],
      held: [['pool-b', '10.250.6.11'], ['pool-b', '10.250.6.12']],
      moves: ['pool-b/10.250.6.11 -> pool-c', 'pool-b/10.250.6.12 -> pool-c'],
      orphaned: [],
    },
    {
      name: 'a removed pool whose range no pool covers leaves orphans',
      pools: [['a', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.20'] }]],
      held: [['gone', '10.9.0.1']],
      moves: [],
      orphaned: ['gone/10.9.0.1 pool-removed'],
    },
    {
      name: 'a shrunk pool orphans the addresses it no longer holds, and an excluded address too',
      pools: [['a', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.15'], excludeIPs: ['10.0.0.12'] }]],
      held: [['a', '10.0.0.11'], ['a', '10.0.0.12'], ['a', '10.0.0.19']],
      moves: [],
      orphaned: ['a/10.0.0.12 outside-pool', 'a/10.0.0.19 outside-pool'],
    },
    {
      name: 'a range moved from one pool to another moves its addresses, family by family',
      pools: [
        ['a', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.14'] }],
        ['b', { subnet: '10.0.0.0/24', ips: ['10.0.0.15-10.0.0.20'] }],
        ['a6', { subnet: 'fd00::/64', ips: ['fd00::10-fd00::20'] }],
      ],
      held: [['a', '10.0.0.16'], ['b', '10.0.0.11'], ['a', 'fd00::11'], ['b', '10.0.0.15']],
      moves: ['a/10.0.0.16 -> b', 'b/10.0.0.11 -> a', 'a/fd00::11 -> a6'],
      orphaned: [],
    },
    {
      name: 'a disabled pool still counts its addresses',
      pools: [['a', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.20'], disable: true }]],
      held: [['old', '10.0.0.10']],
      moves: ['old/10.0.0.10 -> a'],
      orphaned: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planPoolClaims(pools(...c.pools), c.held.map(([pool, ip]) => ({ pool, ip })));
      assert.deepEqual(plan.moves.map((m) => `${m.pool}/${m.ip} -> ${m.to}`), c.moves);
      assert.deepEqual(plan.orphaned.map((o) => `${o.pool}/${o.ip} ${o.reason}`), c.orphaned);
    });
  }

  test('planPoolOf finds the pool of an address, never one of the other family, and nothing for text that is not an address', () => {
    const list = pools(['v4', { subnet: '10.0.0.0/24' }], ['v6', { subnet: 'fd00::/120' }]);
    assert.equal(planPoolOf(list, '10.0.0.9')?.name, 'v4');
    assert.equal(planPoolOf(list, 'fd00::9')?.name, 'v6');
    assert.equal(planPoolOf(list, '10.0.1.9'), undefined);
    assert.equal(planPoolOf(list, 'nonsense'), undefined);
  });
});
