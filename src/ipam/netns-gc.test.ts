import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planNetnsGc, type NetnsObservation } from './netns-gc.ts';

const rec = (key: string, netns: string, netnsId?: string) => ({ key, netns, netnsId });

describe('planNetnsGc', () => {
  const cases: Array<{
    name: string;
    records: ReturnType<typeof rec>[];
    obs: Record<string, NetnsObservation>;
    goneSince?: Record<string, number>;
    now: number;
    grace: number;
    reclaim: string[];
    waiting: string[];
  }> = [
    { name: 'namespace present: nothing to do', records: [rec('a', '/n/a', '1:1')], obs: { '/n/a': { exists: true, id: '1:1' } }, now: 100, grace: 10, reclaim: [], waiting: [] },
    { name: 'gone, first sighting: waits for the grace period', records: [rec('a', '/n/a')], obs: { '/n/a': { exists: false } }, now: 100, grace: 10, reclaim: [], waiting: ['a'] },
    { name: 'gone, grace elapsed: reclaimed', records: [rec('a', '/n/a')], obs: { '/n/a': { exists: false } }, goneSince: { a: 90 }, now: 100, grace: 10, reclaim: ['a'], waiting: [] },
    { name: 'gone, grace not yet elapsed', records: [rec('a', '/n/a')], obs: { '/n/a': { exists: false } }, goneSince: { a: 91 }, now: 100, grace: 10, reclaim: [], waiting: ['a'] },
    { name: 'zero grace reclaims at first sighting', records: [rec('a', '/n/a')], obs: { '/n/a': { exists: false } }, now: 100, grace: 0, reclaim: ['a'], waiting: [] },
    { name: 'path reused by another namespace counts as gone', records: [rec('a', '/n/a', '1:1')], obs: { '/n/a': { exists: true, id: '1:2' } }, goneSince: { a: 0 }, now: 100, grace: 10, reclaim: ['a'], waiting: [] },
    { name: 'unknown recorded id: existing path counts as alive', records: [rec('a', '/n/a')], obs: { '/n/a': { exists: true, id: '1:2' } }, goneSince: { a: 0 }, now: 100, grace: 10, reclaim: [], waiting: [] },
    { name: 'no netns path recorded: never reclaimed', records: [rec('a', '')], obs: { '': { exists: false } }, goneSince: { a: 0 }, now: 100, grace: 0, reclaim: [], waiting: [] },
    { name: 'no observation: treated as alive', records: [rec('a', '/n/a')], obs: {}, goneSince: { a: 0 }, now: 100, grace: 0, reclaim: [], waiting: [] },
    {
      name: 'two attachments in one gone namespace are both reclaimed',
      records: [rec('a', '/n/x'), rec('b', '/n/x'), rec('c', '/n/y')],
      obs: { '/n/x': { exists: false }, '/n/y': { exists: true } },
      goneSince: { a: 0, b: 0, c: 0 },
      now: 100,
      grace: 10,
      reclaim: ['a', 'b'],
      waiting: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planNetnsGc({
        records: c.records,
        observations: new Map(Object.entries(c.obs)),
        goneSince: new Map(Object.entries(c.goneSince ?? {})),
        now: c.now,
        graceMs: c.grace,
      });
      assert.deepEqual(plan.reclaim, c.reclaim);
      assert.deepEqual(plan.waiting.map((w) => w.key), c.waiting);
      assert.deepEqual([...plan.goneSince.keys()], c.waiting);
    });
  }

  test('a namespace that comes back resets its timer', () => {
    const obsGone = new Map([['/n/a', { exists: false }]]);
    const obsBack = new Map([['/n/a', { exists: true }]]);
    const records = [rec('a', '/n/a')];
    const first = planNetnsGc({ records, observations: obsGone, goneSince: new Map(), now: 0, graceMs: 10 });
    const back = planNetnsGc({ records, observations: obsBack, goneSince: first.goneSince, now: 5, graceMs: 10 });
    assert.equal(back.goneSince.size, 0);
    const again = planNetnsGc({ records, observations: obsGone, goneSince: back.goneSince, now: 12, graceMs: 10 });
    assert.deepEqual(again.reclaim, [], 'grace restarts at 12, not 0');
    assert.equal(again.goneSince.get('a'), 12);
  });
});
