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

test('metrics: adds that change nothing are not counted; waits count from the due time; work from hand-out to done; retries apart', async () => {
  const time = fakeTime();
  const seen = { added: 0, retried: 0, depth: [] as number[], waited: [] as number[], worked: [] as number[] };
  const q = createWorkQueue({
    ...time,
    metrics: {
      added: () => void seen.added++,
      retried: () => void seen.retried++,
      depth: (n) => void seen.depth.push(n),
      waited: (s) => void seen.waited.push(s),
      worked: (s) => void seen.worked.push(s),
    },
  });
  const signal = new AbortController().signal;
  q.addAt('a', 1500);
  q.addAt('a', 1600); // later than the pending due time: nothing changes
  q.add('b');
  q.add('b');
  assert.equal(seen.added, 2);
  assert.deepEqual(seen.depth, [1, 2]);
  await time.advance(200);
  assert.equal(await q.next(signal), 'b');
  assert.deepEqual(seen.waited, [0.2], 'b was due when added, 200 ms before it was handed out');
  await time.advance(50);
  q.done('b');
  assert.deepEqual(seen.worked, [0.05]);
  await time.advance(400);
  assert.equal(await q.next(signal), 'a');
  assert.deepEqual(seen.waited, [0.2, 0.15], 'a waited from its due time (1500), not from when it was added (1000)');
  q.retryAt('a', time.now() + 1000);
  q.done('a');
  assert.equal(seen.retried, 1);
  assert.equal(seen.added, 3, 'a retry asked for during processing is one add, not two');
  assert.equal(q.size, 1);
});
