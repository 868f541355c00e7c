import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore, TokenBucket, type BucketClock } from './limits.ts';

/** A clock that only moves when told; `sleep` records how long each taker was told to wait. */
function fakeClock(): BucketClock & { t: number; waits: number[] } {
  const c = {
    t: 0,
    waits: [] as number[],
    now: () => c.t,
    sleep: (ms: number) => {
      c.waits.push(ms);
      return Promise.resolve();
    },
  };
  return c;
}

test('token bucket: the burst passes at once, then one token every 1/qps seconds', async () => {
  const clock = fakeClock();
  const b = new TokenBucket(20, 3, clock);
  for (let i = 0; i < 6; i++) await b.take();
  // Three saved tokens, then reservations at 50, 100 and 150 ms.
  assert.deepEqual(clock.waits.map((w) => Math.round(w)), [50, 100, 150]);
});

test('token bucket: tokens refill with time, up to the burst and no further', async () => {
  const clock = fakeClock();
  const b = new TokenBucket(10, 2, clock);
  await b.take();
  await b.take();
  clock.t = 10_000; // long idle: only 2 saved, not 100
  for (let i = 0; i < 3; i++) await b.take();
  assert.deepEqual(clock.waits.map((w) => Math.round(w)), [100]);
  clock.t += 250; // 2.5 tokens accrue, one was owed: 1.5 left
  await b.take();
  await b.take();
  assert.deepEqual(clock.waits.map((w) => Math.round(w)), [100, 50], 'one take covered, the next owes half a token');
});

test('token bucket: qps 0 never waits', async () => {
  const clock = fakeClock();
  const b = new TokenBucket(0, 1, clock);
  for (let i = 0; i < 100; i++) await b.take();
  assert.deepEqual(clock.waits, []);
});

test('semaphore: at most n holders, the rest served in arrival order', async () => {
  const s = new Semaphore(2);
  const order: number[] = [];
  await s.acquire();
  await s.acquire();
  const waiting = [1, 2, 3].map((i) => s.acquire().then(() => order.push(i)));
  await Promise.resolve();
  assert.deepEqual(order, []);
  s.release();
  await waiting[0];
  assert.deepEqual(order, [1]);
  s.release();
  s.release();
  await Promise.all(waiting);
  assert.deepEqual(order, [1, 2, 3]);
});
