import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createManualClock } from './clock.ts';

describe('manual clock', () => {
  test('timers fire in due order, with now at their due time', async () => {
    const clock = createManualClock(1_000);
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => fired.push(['b', clock.now()]), 200);
    clock.setTimer(() => fired.push(['a', clock.now()]), 100);
    clock.setTimer(() => fired.push(['a2', clock.now()]), 100);
    const cancel = clock.setTimer(() => fired.push(['cancelled', clock.now()]), 150);
    cancel();
    await clock.advance(150);
    assert.deepEqual(fired, [['a', 1_100], ['a2', 1_100]]);
    assert.equal(clock.now(), 1_150);
    await clock.advance(50);
    assert.deepEqual(fired.at(-1), ['b', 1_200]);
    assert.equal(clock.pending(), 0);
  });

  test('timers set by a firing timer within the window fire in the same advance', async () => {
    const clock = createManualClock(0);
    const at: number[] = [];
    const tick = () => {
      at.push(clock.now());
      if (at.length < 5) clock.setTimer(tick, 100);
    };
    clock.setTimer(tick, 100);
    await clock.advance(350);
    assert.deepEqual(at, [100, 200, 300]);
  });

  test('sleep resolves after its time, or at once when aborted', async () => {
    const clock = createManualClock(0);
    let slept = false;
    const p = clock.sleep(1_000).then(() => (slept = true));
    await clock.advance(999);
    assert.equal(slept, false);
    await clock.advance(1);
    await p;
    assert.equal(slept, true);
    const abort = new AbortController();
    const q = clock.sleep(60_000, abort.signal);
    abort.abort();
    await q;
    assert.equal(clock.pending(), 0, 'an aborted sleep leaves no timer behind');
  });
});
