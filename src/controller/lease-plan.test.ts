import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LEADER_ELECTION, formatMicroTime, leaseExpiresAt, planLeaseAction, planLeaseRelease, type LeaseSpec } from './lease-plan.ts';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const at = (offsetMs: number) => formatMicroTime(T0 + offsetMs);
const held = (holder: string, renewedAtOffset: number, extra: LeaseSpec = {}): LeaseSpec => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: at(-60_000),
  renewTime: at(renewedAtOffset),
  leaseTransitions: 3,
  ...extra,
});

describe('planLeaseAction', () => {
  const cases: Array<{ name: string; lease: LeaseSpec | undefined; kind: string; transitions?: number; acquireTime?: string }> = [
    { name: 'no lease: create it', lease: undefined, kind: 'create', transitions: 0, acquireTime: at(0) },
    { name: 'free lease (no holder): acquire', lease: held('', -1_000), kind: 'acquire', transitions: 4, acquireTime: at(0) },
    { name: 'released lease (empty holder, fresh renewTime): acquire at once', lease: held('', 0), kind: 'acquire', transitions: 4 },
    { name: 'held by another, renewed 14.999 s ago: wait', lease: held('b', -14_999), kind: 'wait' },
    { name: 'held by another, renewed exactly 15 s ago: expired, acquire', lease: held('b', -15_000), kind: 'acquire', transitions: 4 },
    { name: 'held by another, renewed 1 min ago: acquire', lease: held('b', -60_000), kind: 'acquire', transitions: 4 },
    { name: 'their own duration counts, not ours', lease: held('b', -20_000, { leaseDurationSeconds: 30 }), kind: 'wait' },
    { name: 'held by another without any time: taken as expired', lease: { holderIdentity: 'b', leaseDurationSeconds: 15 }, kind: 'acquire', transitions: 1 },
    { name: 'held by another with a garbled renewTime, falls back to acquireTime', lease: held('b', 0, { renewTime: 'yesterday', acquireTime: at(-1_000) }), kind: 'wait' },
    { name: 'held by another with zero duration: expired', lease: held('b', 0, { leaseDurationSeconds: 0 }), kind: 'acquire', transitions: 4 },
    { name: 'held by us: renew, keeping acquireTime and transitions', lease: held('a', -2_000), kind: 'renew', transitions: 3, acquireTime: at(-60_000) },
    { name: 'held by us even if expired: renew (nobody took it)', lease: held('a', -60_000), kind: 'renew', transitions: 3 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const action = planLeaseAction(c.lease, T0, 'a', DEFAULT_LEADER_ELECTION);
      assert.equal(action.kind, c.kind);
      if (action.kind === 'wait') {
        assert.equal(action.holder, 'b');
        assert.equal(action.expiresAt, leaseExpiresAt(c.lease!));
        return;
      }
      assert.equal(action.spec.holderIdentity, 'a');
      assert.equal(action.spec.renewTime, at(0));
      assert.equal(action.spec.leaseDurationSeconds, 15);
      if (c.transitions !== undefined) assert.equal(action.spec.leaseTransitions, c.transitions);
      if (c.acquireTime !== undefined) assert.equal(action.spec.acquireTime, c.acquireTime);
    });
  }

  test('the written duration follows the configured lease duration, rounded up to whole seconds', () => {
    const action = planLeaseAction(undefined, T0, 'a', { ...DEFAULT_LEADER_ELECTION, leaseDurationMs: 7_500 });
    assert.equal(action.kind, 'create');
    assert.equal(action.kind === 'create' && action.spec.leaseDurationSeconds, 8);
  });

  test('an acquire names the previous holder', () => {
    const action = planLeaseAction(held('b', -16_000), T0, 'a', DEFAULT_LEADER_ELECTION);
    assert.equal(action.kind === 'acquire' && action.previousHolder, 'b');
  });
});

describe('MicroTime', () => {
  test('formatted with microseconds, as the API server writes it', () => {
    assert.equal(formatMicroTime(T0), '2025-01-02T03:04:05.678000Z');
  });
  test('expiry is renewTime plus the lease duration', () => {
    assert.equal(leaseExpiresAt(held('b', 0)), T0 + 15_000);
  });
});

describe('planLeaseRelease', () => {
  test('empties the holder of our lease and keeps the rest', () => {
    const spec = planLeaseRelease(held('a', -1_000), T0, 'a');
    assert.deepEqual(spec, { ...held('a', 0), holderIdentity: '' });
  });
  test('leaves another replica\'s lease alone', () => {
    assert.equal(planLeaseRelease(held('b', -1_000), T0, 'a'), undefined);
    assert.equal(planLeaseRelease(undefined, T0, 'a'), undefined);
  });
  test('a released lease is acquired by the next replica without waiting for expiry', () => {
    const released = planLeaseRelease(held('a', -1_000), T0, 'a')!;
    assert.equal(planLeaseAction(released, T0 + 1, 'b', DEFAULT_LEADER_ELECTION).kind, 'acquire');
  });
});
