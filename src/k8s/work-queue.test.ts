import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWorkQueue } from './work-queue.ts';

function fakeTime() {
  let now = 1000;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimer(fn: () => void, ms: number) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return () => void timers.delete(t);
    },
    async advance(ms: number) {
      now += ms;
      for (const t of [...timers].sort((a, b) => a.at - b.at)) {
        if (t.at <= now) {
          timers.delete(t);
          t.fn();
        }
      }
      await new Promise((r) => setImmediate(r));
    },
  };
}

test('keys come out once, in due order, and a pending key keeps its earliest due time', async () => {
  const time = fakeTime();
  const q = createWorkQueue(time);
  const signal = new AbortController().signal;
  q.addAt('b', 1200);
  q.addAt('a', 1100);
  q.addAt('b', 1500);
  q.add('c');
  q.add('c');
  assert.equal(q.size, 3);
  assert.equal(await q.next(signal), 'c');
  const pending = q.next(signal);
  await time.advance(100);
  assert.equal(await pending, 'a');
  await time.advance(100);
  assert.equal(await q.next(signal), 'b');
  assert.equal(q.size, 0);
});

test('a key added while processed comes back after done, never twice at once', async () => {
  const time = fakeTime();
  const q = createWorkQueue(time);
  const signal = new AbortController().signal;
  q.add('k');
  assert.equal(await q.next(signal), 'k');
  q.add('k');
  assert.equal(q.size, 0, 'held back while processing');
  let got: string | undefined;
  void q.next(signal).then((k) => (got = k));
  await new Promise((r) => setImmediate(r));
  assert.equal(got, undefined);
  q.done('k');
  await new Promise((r) => setImmediate(r));
  assert.equal(got, 'k');
});

test('next resolves undefined once the signal aborts', async () => {
  const q = createWorkQueue(fakeTime());
  const ac = new AbortController();
  const waiting = q.next(ac.signal);
  ac.abort();
  assert.equal(await waiting, undefined);
});

test('an earlier due time replaces a later one', async () => {
  const time = fakeTime();
  const q = createWorkQueue(time);
  const signal = new AbortController().signal;
  q.addAt('x', 5000);
  q.addAt('x', 1050);
  const pending = q.next(signal);
  await time.advance(50);
  assert.equal(await pending, 'x');
  assert.equal(q.size, 0, 'the stale later entry is gone');
});
