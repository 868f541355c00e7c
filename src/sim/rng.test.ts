import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from './rng.ts';

const draw = (seed: number, n = 8) => {
  const r = createRng(seed);
  return Array.from({ length: n }, () => r.next());
};

test('the same seed gives the same sequence; another seed another one', () => {
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test('draws stay in their ranges', () => {
  const r = createRng(1);
  for (let i = 0; i < 10_000; i++) {
    const f = r.next();
    assert.ok(f >= 0 && f < 1);
    const k = r.between(3, 5);
    assert.ok(k >= 3 && k <= 5 && Number.isInteger(k));
    assert.ok(r.int(7) < 7);
  }
  assert.match(r.hex(13), /^[0-9a-f]{13}$/);
  assert.equal(r.chance(0), false);
  assert.equal(r.chance(1), true);
  assert.throws(() => r.pick([]), /empty/);
});

test('values are spread evenly (no bucket of ten is off by more than 10%)', () => {
  const r = createRng(9);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
  for (const b of buckets) assert.ok(Math.abs(b - 10_000) < 1_000, `bucket ${b}`);
});

test('a fork is independent of later draws on its parent', () => {
  const a = createRng(5);
  const forkA = a.fork('x');
  const b = createRng(5);
  const forkB = b.fork('x');
  b.next();
  b.next();
  assert.deepEqual([forkA.next(), forkA.next()], [forkB.next(), forkB.next()]);
  assert.notEqual(createRng(5).fork('x').next(), createRng(5).fork('y').next());
});
