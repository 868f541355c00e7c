import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPoolEdit } from './pool-edit.ts';
import { POOL_API_VERSION, planPools } from './pool.ts';

const pools = (...specs: Array<[string, Record<string, unknown>]>) =>
  planPools(specs.map(([name, spec]) => ({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name }, spec })));

describe('planPoolEdit', () => {
  test('a rename with the same range: one pool removed, one added, its addresses re-filed; a shrink orphans', () => {
    const before = pools(['pool-b', { subnet: '10.250.6.0/24', ips: ['10.250.6.10-10.250.6.20'] }], ['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.20'] }], ['same', { subnet: '10.1.0.0/24' }]);
    const after = pools(['pool-c', { subnet: '10.250.6.0/24', ips: ['10.250.6.10-10.250.6.20'] }], ['lan', { subnet: '10.0.0.0/24', ips: ['10.0.0.10-10.0.0.15'] }], ['same', { subnet: '10.1.0.0/24' }]);
    const plan = planPoolEdit(before, after, [
      { pool: 'pool-b', ip: '10.250.6.11' },
      { pool: 'lan', ip: '10.0.0.19' },
      { pool: 'same', ip: '10.1.0.5' },
    ]);
    assert.deepEqual(plan.added, ['pool-c']);
    assert.deepEqual(plan.removed, ['pool-b']);
    assert.deepEqual(plan.changed, ['lan']);
    assert.deepEqual(plan.moves, [{ pool: 'pool-b', ip: '10.250.6.11', to: 'pool-c' }]);
    assert.deepEqual(plan.orphaned, [{ pool: 'lan', ip: '10.0.0.19', reason: 'outside-pool' }]);
  });

  test('a flag or an affinity is a change too; an identical file changes nothing', () => {
    const base = pools(['a', { subnet: '10.0.0.0/24', default: true }], ['b', { subnet: '10.1.0.0/24' }]);
    const edited = pools(['a', { subnet: '10.0.0.0/24' }], ['b', { subnet: '10.1.0.0/24', nodeName: ['n1'] }]);
    assert.deepEqual(planPoolEdit(base, edited, []).changed, ['a', 'b']);
    const same = planPoolEdit(base, pools(['a', { subnet: '10.0.0.0/24', default: true }], ['b', { subnet: '10.1.0.0/24' }]), []);
    assert.deepEqual([same.added, same.removed, same.changed, same.moves, same.orphaned], [[], [], [], [], []]);
  });
});
