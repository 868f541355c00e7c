import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from './scheduler.ts';

async function drain(s: ReturnType<typeof createScheduler>, until = Number.MAX_SAFE_INTEGER): Promise<void> {
  while (await s.step(until));
}

test('callbacks run in time order, ties in insertion order, and the clock jumps to each', async () => {
  const s = createScheduler(1000);
  const seen: string[] = [];
  s.after(20, () => seen.push(`b@${s.now}`));
  s.after(10, () => seen.push(`a@${s.now}`));
  s.after(20, () => seen.push(`c@${s.now}`));
  s.at(500, () => seen.push(`past@${s.now}`)); // before now: runs at now
  await drain(s);
  assert.deepEqual(seen, ['past@1000', 'a@1010', 'b@1020', 'c@1020']);
  assert.equal(s.steps, 4);
});

test('step stops at `until` without running later callbacks', async () => {
  const s = createScheduler(0);
  let ran = 0;
  s.after(5, () => ran++);
  s.after(50, () => ran++);
  await drain(s, 10);
  assert.equal(ran, 1);
  assert.equal(s.pending, 1);
  s.advanceTo(30);
  assert.equal(s.now, 30);
});

test('promise chains started by a callback settle before the next callback runs', async () => {
  const s = createScheduler(0);
  const seen: string[] = [];
  s.after(1, () => {
    void Promise.resolve()
      .then(() => Promise.resolve())
      .then(() => seen.push('chain'));
  });
  s.after(1, () => seen.push('next'));
  await drain(s);
  assert.deepEqual(seen, ['chain', 'next']);
});

test('a killed owner loses every pending timer; cancel removes one', async () => {
  const s = createScheduler(0);
  let a = 0;
  let b = 0;
  s.after(5, () => a++, 'agent');
  s.after(6, () => a++, 'agent');
  const cancel = s.after(7, () => b++, 'other');
  s.after(8, () => b++, 'other');
  s.cancelOwner('agent');
  cancel();
  assert.equal(s.pending, 1);
  await drain(s);
  assert.deepEqual([a, b], [0, 1]);
});

test('clock sleeps in virtual time and wakes early on abort', async () => {
  const s = createScheduler(0);
  const clock = s.clock('p');
  const woke: number[] = [];
  void clock.sleep(100).then(() => woke.push(s.now));
  const ac = new AbortController();
  void clock.sleep(1_000, ac.signal).then(() => woke.push(s.now));
  s.after(10, () => ac.abort());
  await drain(s);
  assert.deepEqual(woke, [10, 100]);
});
