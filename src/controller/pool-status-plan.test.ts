import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planPoolStatus } from './pool-status-plan.ts';

const pool = (spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
  apiVersion: 'tidepool.dev/v1alpha1',
  kind: 'IPPool',
  metadata: { name: 'lan' },
  spec,
  ...(status ? { status } : {}),
});
const alloc = (poolName: string, ip: string, allocated: boolean) => ({
  metadata: { name: `${poolName}.${ip}`, labels: { 'tidepool.dev/pool': poolName, 'tidepool.dev/state': allocated ? 'allocated' : 'released' } },
  spec: { pool: poolName, ip, ...(allocated ? { owner: { node: 'n', containerId: 'c', ifname: 'eth0', allocatedAt: '2025-01-01T00:00:00.000Z' } } : {}) },
});

describe('planPoolStatus', () => {
  const allocs = [alloc('lan', '10.6.0.10', true), alloc('lan', '10.6.0.11', true), alloc('lan', '10.6.0.12', false), alloc('other', '10.7.0.1', true)];

  test('counts allocatable IPs and allocated IPAllocations of this pool only', () => {
    assert.deepEqual(planPoolStatus(pool({ subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.59'] }), allocs), { kind: 'update', status: { totalIPCount: '50', allocatedIPCount: 2 } });
  });

  test('the total is planPool\'s: excludes and the gateway are not counted', () => {
    const plan = planPoolStatus(pool({ subnet: '10.6.0.0/24', gateway: '10.6.0.1', excludeIPs: ['10.6.0.200-10.6.0.209'] }), []);
    assert.deepEqual(plan, { kind: 'update', status: { totalIPCount: '243', allocatedIPCount: 0 } });
  });

  test('IPv6 totals beyond 2^53 are exact decimal strings', () => {
    const plan = planPoolStatus(pool({ subnet: 'fd00::/64' }), []);
    assert.equal(plan.kind === 'update' && plan.status.totalIPCount, (2n ** 64n - 1n).toString());
  });

  test('no write when the stored status already says so', () => {
    assert.deepEqual(planPoolStatus(pool({ subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.59'] }, { totalIPCount: '50', allocatedIPCount: 2 }), allocs), { kind: 'unchanged' });
  });

  test('a write when only one of the two differs', () => {
    const plan = planPoolStatus(pool({ subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.59'] }, { totalIPCount: '50', allocatedIPCount: 3 }), allocs);
    assert.deepEqual(plan, { kind: 'update', status: { totalIPCount: '50', allocatedIPCount: 2 } });
  });

  test('an invalid pool gets no status, and the reason', () => {
    assert.deepEqual(planPoolStatus(pool({ subnet: '10.6.0.5/24' }), allocs), { kind: 'invalid', message: 'pool "lan": spec.subnet "10.6.0.5/24" is not a network address (did you mean 10.6.0.0/24?)' });
  });
});
