import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IPRange } from './range.ts';
import { formatRange, intersectRanges, normalizeRanges, parseRangeSpec, rangesContain, rangesSize, subtractRanges } from './range.ts';

const r = (start: number, end: number = start): IPRange => ({ family: 4, start: BigInt(start), end: BigInt(end) });

describe('parseRangeSpec / formatRange', () => {
  const valid: [string, IPRange, string][] = [
    ['10.0.0.5', { family: 4, start: 0x0a000005n, end: 0x0a000005n }, '10.0.0.5'],
    ['10.0.0.5-10.0.0.9', { family: 4, start: 0x0a000005n, end: 0x0a000009n }, '10.0.0.5-10.0.0.9'],
    ['10.0.0.5-10.0.0.5', { family: 4, start: 0x0a000005n, end: 0x0a000005n }, '10.0.0.5'],
    ['fd00::1-FD00::00ff', { family: 6, start: (0xfd00n << 112n) | 1n, end: (0xfd00n << 112n) | 0xffn }, 'fd00::1-fd00::ff'],
  ];
  for (const [text, range, canonical] of valid) {
    test(`accepts ${text}`, () => {
      assert.deepEqual(parseRangeSpec(text), range);
      assert.equal(formatRange(range), canonical);
      assert.deepEqual(parseRangeSpec(canonical), range);
    });
  }

  const invalid = [
    '',
    '-',
    '10.0.0.5-',
    '-10.0.0.5',
    '10.0.0.9-10.0.0.5',
    '10.0.0.5 - 10.0.0.9',
    '10.0.0.5 -10.0.0.9',
    '10.0.0.5-10.0.0.9-10.0.0.10',
    '10.0.0.1-fd00::1',
    '10.0.0.0/24',
    'abc',
  ];
  for (const text of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseRangeSpec(text), undefined);
    });
  }
});

describe('set operations (table)', () => {
  const normalizeCases: [string, IPRange[], IPRange[]][] = [
    ['empty', [], []],
    ['single', [r(5, 9)], [r(5, 9)]],
    ['sorts', [r(20, 30), r(1, 2)], [r(1, 2), r(20, 30)]],
    ['merges overlap', [r(1, 10), r(5, 20)], [r(1, 20)]],
    ['merges adjacent', [r(1, 4), r(5, 9)], [r(1, 9)]],
    ['keeps gap of one', [r(1, 4), r(6, 9)], [r(1, 4), r(6, 9)]],
    ['contained', [r(1, 100), r(5, 6), r(50)], [r(1, 100)]],
    ['duplicates', [r(3), r(3), r(3)], [r(3)]],
  ];
  for (const [name, input, expected] of normalizeCases) {
    test(`normalizeRanges: ${name}`, () => {
      assert.deepEqual(normalizeRanges(input), expected);
    });
  }

  const subtractCases: [string, IPRange[], IPRange[], IPRange[]][] = [
    ['nothing removed', [r(1, 10)], [], [r(1, 10)]],
    ['from empty', [], [r(1, 10)], []],
    ['middle hole', [r(1, 10)], [r(4, 6)], [r(1, 3), r(7, 10)]],
    ['edges', [r(1, 10)], [r(1), r(10)], [r(2, 9)]],
    ['all', [r(1, 10)], [r(0, 20)], []],
    ['remove spans two', [r(1, 5), r(10, 15)], [r(4, 11)], [r(1, 3), r(12, 15)]],
    ['disjoint', [r(1, 5)], [r(7, 9)], [r(1, 5)]],
    ['many holes', [r(0, 20)], [r(2), r(4), r(6, 7), r(20)], [r(0, 1), r(3), r(5), r(8, 19)]],
  ];
  for (const [name, from, remove, expected] of subtractCases) {
    test(`subtractRanges: ${name}`, () => {
      assert.deepEqual(subtractRanges(from, remove), expected);
    });
  }

  const intersectCases: [string, IPRange[], IPRange[], IPRange[]][] = [
    ['empty', [], [r(1, 10)], []],
    ['same', [r(1, 10)], [r(1, 10)], [r(1, 10)]],
    ['partial', [r(1, 10)], [r(5, 20)], [r(5, 10)]],
    ['touching is not overlapping', [r(1, 4)], [r(5, 9)], []],
    ['one address', [r(1, 5)], [r(5, 9)], [r(5)]],
    ['several', [r(0, 10), r(20, 30)], [r(5, 25)], [r(5, 10), r(20, 25)]],
  ];
  for (const [name, a, b, expected] of intersectCases) {
    test(`intersectRanges: ${name}`, () => {
      assert.deepEqual(intersectRanges(a, b), expected);
      assert.deepEqual(intersectRanges(b, a), expected);
    });
  }

  test('rangesSize and rangesContain', () => {
    const rs = normalizeRanges([r(1, 3), r(10), r(20, 29)]);
    assert.equal(rangesSize(rs), 14n);
    assert.equal(rangesSize([]), 0n);
    const inside = [1, 2, 3, 10, 20, 25, 29];
    for (let v = -1; v < 35; v++) assert.equal(rangesContain(rs, BigInt(v)), inside.includes(v) || (v >= 20 && v <= 29), `value ${v}`);
    assert.equal(rangesContain([], 0n), false);
  });

  test('IPv6 /64-sized ranges stay cheap', () => {
    const base = 0xfd00n << 112n;
    const whole: IPRange = { family: 6, start: base, end: base + (1n << 64n) - 1n };
    const rest = subtractRanges([whole], [{ family: 6, start: base, end: base }]);
    assert.equal(rangesSize(rest), (1n << 64n) - 1n);
    assert.equal(rangesContain(rest, base), false);
    assert.equal(rangesContain(rest, base + 1n), true);
  });
});

describe('set operations agree with a brute-force model (property)', () => {
  const MAX = 40;
  const range = fc.tuple(fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: 6 })).map(([s, len]) => r(s, Math.min(MAX, s + len)));
  const ranges = fc.array(range, { maxLength: 6 });
  const toSet = (rs: readonly IPRange[]): Set<number> => {
    const s = new Set<number>();
    for (const x of rs) for (let v = Number(x.start); v <= Number(x.end); v++) s.add(v);
    return s;
  };
  const sortedList = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);
  const assertNormalized = (rs: readonly IPRange[]): void => {
    for (let i = 0; i < rs.length; i++) {
      const cur = rs[i] as IPRange;
      assert.ok(cur.start <= cur.end);
      const next = rs[i + 1];
      if (next) assert.ok(cur.end + 1n < next.start, 'ranges must be sorted and neither overlap nor touch');
    }
  };

  test('normalizeRanges', () => {
    fc.assert(
      fc.property(ranges, (a) => {
        const n = normalizeRanges(a);
        assertNormalized(n);
        assert.deepEqual(sortedList(toSet(n)), sortedList(toSet(a)));
        assert.equal(rangesSize(n), BigInt(toSet(a).size));
        for (let v = 0; v <= MAX + 1; v++) assert.equal(rangesContain(n, BigInt(v)), toSet(a).has(v));
      }),
      { numRuns: 500 },
    );
  });

  test('subtractRanges', () => {
    fc.assert(
      fc.property(ranges, ranges, (a, b) => {
        const out = subtractRanges(a, b);
        assertNormalized(out);
        const bs = toSet(b);
        assert.deepEqual(sortedList(toSet(out)), sortedList(toSet(a)).filter((v) => !bs.has(v)));
      }),
      { numRuns: 500 },
    );
  });

  test('intersectRanges', () => {
    fc.assert(
      fc.property(ranges, ranges, (a, b) => {
        const out = intersectRanges(a, b);
        assertNormalized(out);
        const bs = toSet(b);
        assert.deepEqual(sortedList(toSet(out)), sortedList(toSet(a)).filter((v) => bs.has(v)));
      }),
      { numRuns: 500 },
    );
  });
});
