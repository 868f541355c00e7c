import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatAddress, parseAddress } from './address.ts';
import type { UsageView } from './allocate.ts';
import { RELEASED_WINDOW, planFreeCount, planNextIp, planUsage } from './allocate.ts';
import type { Pool } from './pool.ts';
import { POOL_API_VERSION, planPool } from './pool.ts';
import { normalizeRanges, rangesContain, rangesSize } from './range.ts';
import type { IPRange } from './range.ts';

function v4Pool(ips: string[], subnet = '10.0.0.0/24'): Pool {
  return planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 'test' }, spec: { subnet, ips } });
}

function value(text: string): bigint {
  const a = parseAddress(text);
  assert.ok(a, text);
  return a.value;
}

describe('planNextIp (table)', () => {
  const cases: {
    name: string;
    ips: string[];
    allocated?: string[];
    released?: [string, number][];
    skip?: string[];
    now?: number;
    cooldownMs?: number;
    want: string | undefined;
  }[] = [
    { name: 'empty usage gives the first IP', ips: ['10.0.0.10-10.0.0.20'], want: '10.0.0.10' },
    { name: 'all allocated', ips: ['10.0.0.1-10.0.0.3'], allocated: ['10.0.0.1', '10.0.0.2', '10.0.0.3'], want: undefined },
    { name: 'first gap', ips: ['10.0.0.1-10.0.0.9'], allocated: ['10.0.0.1', '10.0.0.2', '10.0.0.4'], want: '10.0.0.3' },
    { name: 'allocated out of order', ips: ['10.0.0.1-10.0.0.9'], allocated: ['10.0.0.3', '10.0.0.1', '10.0.0.2'], want: '10.0.0.4' },
    {
      name: 'next range when the first is full',
      ips: ['10.0.0.1-10.0.0.2', '10.0.0.50-10.0.0.60'],
      allocated: ['10.0.0.1', '10.0.0.2', '10.0.0.50'],
      want: '10.0.0.51',
    },
    {
      name: 'allocated IPs outside the ranges do not matter',
      ips: ['10.0.0.5-10.0.0.6'],
      allocated: ['10.0.0.1', '10.0.0.2', '10.0.0.4', '10.0.0.200'],
      want: '10.0.0.5',
    },
    { name: 'skip', ips: ['10.0.0.1-10.0.0.9'], allocated: ['10.0.0.1'], skip: ['10.0.0.2', '10.0.0.3'], want: '10.0.0.4' },
    { name: 'skip everything', ips: ['10.0.0.1-10.0.0.2'], skip: ['10.0.0.1', '10.0.0.2'], want: undefined },
    {
      name: 'never-released IPs come before released ones, even higher ones',
      ips: ['10.0.0.1-10.0.0.9'],
      allocated: ['10.0.0.2'],
      released: [['10.0.0.1', 100]],
      want: '10.0.0.3',
    },
    {
      name: 'least recently released first',
      ips: ['10.0.0.1-10.0.0.3'],
      allocated: ['10.0.0.2'],
      released: [
        ['10.0.0.1', 300],
        ['10.0.0.3', 200],
      ],
      now: 1000,
      want: '10.0.0.3',
    },
    {
      name: 'equal release times: lowest IP',
      ips: ['10.0.0.1-10.0.0.3'],
      released: [
        ['10.0.0.3', 200],
        ['10.0.0.2', 200],
        ['10.0.0.1', 300],
      ],
      now: 1000,
      want: '10.0.0.2',
    },
    {
      name: 'released IP that is skipped is passed over',
      ips: ['10.0.0.1-10.0.0.2'],
      released: [
        ['10.0.0.1', 100],
        ['10.0.0.2', 200],
      ],
      skip: ['10.0.0.1'],
      now: 1000,
      want: '10.0.0.2',
    },
    {
      name: 'released IP no longer in the ranges is not handed out',
      ips: ['10.0.0.1-10.0.0.2'],
      allocated: ['10.0.0.2'],
      released: [
        ['10.0.0.9', 100],
        ['10.0.0.1', 500],
      ],
      now: 1000,
      want: '10.0.0.1',
    },
    {
      name: 'cooldown: every released IP too recent',
      ips: ['10.0.0.1-10.0.0.2'],
      released: [
        ['10.0.0.1', 950],
        ['10.0.0.2', 960],
      ],
      now: 1000,
      cooldownMs: 100,
      want: undefined,
    },
    {
      name: 'cooldown: exactly cooldownMs ago is eligible',
      ips: ['10.0.0.1-10.0.0.2'],
      released: [
        ['10.0.0.1', 900],
        ['10.0.0.2', 950],
      ],
      now: 1000,
      cooldownMs: 100,
      want: '10.0.0.1',
    },
    {
      name: 'cooldown does not delay never-released IPs',
      ips: ['10.0.0.1-10.0.0.3'],
      released: [['10.0.0.1', 999]],
      now: 1000,
      cooldownMs: 60_000,
      want: '10.0.0.2',
    },
    {
      name: 'cooldown: a release in the future is not cooled down',
      ips: ['10.0.0.1'],
      released: [['10.0.0.1', 5000]],
      now: 1000,
      cooldownMs: 10,
      want: undefined,
    },
    {
      name: 'no cooldown: a release time after now is still eligible (clock skew between nodes)',
      ips: ['10.0.0.1'],
      released: [['10.0.0.1', 5000]],
      now: 1000,
      want: '10.0.0.1',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const pool = v4Pool(c.ips);
      const usage = planUsage(4, c.allocated ?? [], c.released ?? []);
      const skip = c.skip ? new Set(c.skip.map(value)) : undefined;
      const got = planNextIp(pool, usage, { now: c.now ?? 0, ...(c.cooldownMs === undefined ? {} : { cooldownMs: c.cooldownMs }), ...(skip ? { skip } : {}) });
      assert.equal(got === undefined ? undefined : formatAddress(got), c.want);
      if (got) assert.equal(got.family, 4);
    });
  }

  test('IPv6 /64 with a few used IPs', () => {
    const pool = planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 'v6' }, spec: { subnet: 'fd00::/64', gateway: 'fd00::1' } });
    const usage = planUsage(6, ['fd00::2', 'fd00::3', 'fd00::5', 'fd00::ffff:ffff:ffff:ffff'], [['fd00::4', 10]]);
    const got = planNextIp(pool, usage, { now: 100 });
    assert.ok(got);
    assert.equal(formatAddress(got), 'fd00::6');
    assert.equal(planFreeCount(pool, usage), (1n << 64n) - 2n - 4n);
  });

  test('IPv6 /64 with many allocated IPs is fast and finds the first gap', () => {
    const pool = planPool({ apiVersion: POOL_API_VERSION, kind: 'IPPool', metadata: { name: 'v6' }, spec: { subnet: 'fd00::/64' } });
    const base = value('fd00::');
    const allocated = new Set<bigint>();
    for (let i = 1n; i <= 20_000n; i++) allocated.add(base + i);
    const started = performance.now();
    const got = planNextIp(pool, { allocated, releasedAt: new Map() }, { now: 0 });
    assert.ok(performance.now() - started < 1000, 'must not walk the pool');
    assert.equal(got?.value, base + 20_001n);
  });

  test('a released IP that is also in allocated is never handed out', () => {
    const pool = v4Pool(['10.0.0.1-10.0.0.2']);
    const usage: UsageView = {
      allocated: new Set([value('10.0.0.1'), value('10.0.0.2')]),
      releasedAt: new Map([[value('10.0.0.1'), 5]]),
    };
    assert.equal(planNextIp(pool, usage, { now: 100 }), undefined);
  });
});

describe('reclaim cooldown (reusableAt)', () => {
  const pool = v4Pool(['10.0.0.1-10.0.0.2']);
  test('a released IP is not handed out before its reusableAt, and is after', () => {
    const usage = planUsage(4, ['10.0.0.2'], [['10.0.0.1', 100, 5000]]);
    assert.equal(planNextIp(pool, usage, { now: 4999 }), undefined);
    assert.equal(formatAddress(planNextIp(pool, usage, { now: 5000 })!), '10.0.0.1');
  });
  test('a later release without reusableAt replaces an earlier one that had it', () => {
    const usage = planUsage(4, [], [
      ['10.0.0.1', 100, 9000],
      ['10.0.0.1', 200],
    ]);
    assert.equal(usage.reusableAt?.has(value('10.0.0.1')), false);
  });
});

describe('planUsage', () => {
  test('parses canonical and non-canonical text, ignores junk and the other family', () => {
    const u = planUsage(6, ['fd00::1', 'FD00:0::2', '10.0.0.1', 'nonsense'], [
      ['fd00::3', 10],
      ['10.0.0.2', 10],
      ['bad', 10],
    ]);
    assert.deepEqual([...u.allocated].sort(), [value('fd00::1'), value('fd00::2')]);
    assert.deepEqual([...u.releasedAt], [[value('fd00::3'), 10]]);
  });

  test('an allocated IP is not released; the latest release time wins; non-finite times are dropped', () => {
    const u = planUsage(4, ['10.0.0.1'], [
      ['10.0.0.1', 10],
      ['10.0.0.2', 10],
      ['10.0.0.2', 30],
      ['10.0.0.2', 20],
      ['10.0.0.3', Number.NaN],
    ]);
    assert.deepEqual([...u.allocated], [value('10.0.0.1')]);
    assert.deepEqual([...u.releasedAt], [[value('10.0.0.2'), 30]]);
  });
});

describe('planFreeCount', () => {
  const cases: [string, string[], string[], bigint][] = [
    ['nothing allocated', ['10.0.0.1-10.0.0.10'], [], 10n],
    ['some allocated', ['10.0.0.1-10.0.0.10'], ['10.0.0.1', '10.0.0.5'], 8n],
    ['allocated outside the ranges do not count', ['10.0.0.1-10.0.0.10'], ['10.0.0.1', '10.0.0.50'], 9n],
    ['full', ['10.0.0.1-10.0.0.2'], ['10.0.0.1', '10.0.0.2'], 0n],
  ];
  for (const [name, ips, allocated, want] of cases) {
    test(name, () => {
      assert.equal(planFreeCount(v4Pool(ips), planUsage(4, allocated, [])), want);
    });
  }
});

describe('planNextIp agrees with a brute-force oracle (property)', () => {
  const MAX = 30;
  const rangeArb = fc.tuple(fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: 5 })).map(
    ([s, len]): IPRange => ({ family: 4, start: BigInt(s), end: BigInt(Math.min(MAX, s + len)) }),
  );
  const valueArb = fc.integer({ min: 0, max: MAX + 2 }).map(BigInt);
  const scenario = fc.record({
    ranges: fc.array(rangeArb, { minLength: 1, maxLength: 4 }),
    allocated: fc.uniqueArray(valueArb, { maxLength: 25 }),
    released: fc.array(fc.tuple(valueArb, fc.integer({ min: 0, max: 50 })), { maxLength: 25 }),
    skip: fc.uniqueArray(valueArb, { maxLength: 5 }),
    now: fc.integer({ min: 0, max: 60 }),
    cooldownMs: fc.option(fc.integer({ min: -5, max: 40 }), { nil: undefined }),
    random: fc.option(fc.double({ min: 0, max: 0.999999, noNaN: true }), { nil: undefined }),
    segment: fc.option(fc.integer({ min: 1, max: 5 }).chain((count) => fc.record({ index: fc.integer({ min: 0, max: count - 1 }), count: fc.constant(count) })), { nil: undefined }),
  });

  test('result is the oracle choice and satisfies every rule', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const ranges = normalizeRanges(s.ranges);
        const pool: Pool = {
          name: 'p',
          family: 4,
          subnet: { family: 4, network: 0n, prefix: 24 },
          routes: [],
          affinity: {},
          detection: {},
          ranges,
          total: rangesSize(ranges),
          isDefault: false,
          disabled: false,
        };
        // Deliberately lets released and allocated overlap: planNextIp must not trust the view to be clean.
        const usage: UsageView = { allocated: new Set(s.allocated), releasedAt: new Map(s.released) };
        const skip = new Set(s.skip);
        const got = planNextIp(pool, usage, { now: s.now, skip, random: s.random, segment: s.segment, ...(s.cooldownMs === undefined ? {} : { cooldownMs: s.cooldownMs }) });

        const cooldown = s.cooldownMs ?? 0;
        const candidates: bigint[] = [];
        for (let v = 0n; v <= BigInt(MAX + 2); v++) {
          if (rangesContain(ranges, v) && !usage.allocated.has(v) && !skip.has(v)) candidates.push(v);
        }
        const fresh = candidates.filter((v) => !usage.releasedAt.has(v));
        const eligibleReleased = candidates.filter((v) => {
          const at = usage.releasedAt.get(v);
          return at !== undefined && (cooldown <= 0 || s.now - at >= cooldown);
        });
        // The oracle, straight from the documented order: fresh in the segment, fresh anywhere (from
        // random's position), released in the segment (oldest), released anywhere (oldest, or among the window).
        const inPool: bigint[] = [];
        for (let v = 0n; v <= BigInt(MAX + 2); v++) if (rangesContain(ranges, v)) inPool.push(v);
        const n = BigInt(inPool.length);
        const seg = s.segment && n > 0n ? inPool.slice(Number((n * BigInt(s.segment.index)) / BigInt(s.segment.count)), Number((n * BigInt(s.segment.index + 1)) / BigInt(s.segment.count))) : [];
        const inSeg = (v: bigint) => seg.includes(v);
        const from = s.random === undefined ? undefined : inPool[Number((n * BigInt(Math.floor(s.random * 2 ** 32))) >> 32n)];
        const byAge = [...eligibleReleased].sort((a, b) => {
          const d = (usage.releasedAt.get(a) as number) - (usage.releasedAt.get(b) as number);
          return d !== 0 ? d : a < b ? -1 : 1;
        });
        const want: bigint | undefined =
          fresh.find(inSeg) ??
          (from === undefined ? fresh[0] : (fresh.find((v) => v >= from) ?? fresh[0])) ??
          byAge.find(inSeg) ??
          (s.random === undefined ? byAge[0] : byAge[Math.floor(s.random * Math.min(byAge.length, Math.max(RELEASED_WINDOW, Math.ceil(byAge.length / 4))))]);

        assert.equal(got === undefined, fresh.length === 0 && eligibleReleased.length === 0);
        if (got !== undefined) {
          assert.ok(rangesContain(ranges, got.value), 'inside ranges');
          assert.ok(!usage.allocated.has(got.value), 'not allocated');
          assert.ok(!skip.has(got.value), 'not skipped');
          if (fresh.length > 0) assert.ok(!usage.releasedAt.has(got.value), 'never-released preferred');
        }
        assert.equal(got?.value, want);
      }),
      { numRuns: 2000 },
    );
  });

  test('planFreeCount matches counting (property)', () => {
    fc.assert(
      fc.property(fc.array(rangeArb, { minLength: 1, maxLength: 4 }), fc.uniqueArray(valueArb, { maxLength: 25 }), (rs, allocated) => {
        const ranges = normalizeRanges(rs);
        const pool: Pool = {
          name: 'p',
          family: 4,
          subnet: { family: 4, network: 0n, prefix: 24 },
          routes: [],
          affinity: {},
          detection: {},
          ranges,
          total: rangesSize(ranges),
          isDefault: false,
          disabled: false,
        };
        let free = 0n;
        for (let v = 0n; v <= BigInt(MAX + 2); v++) if (rangesContain(ranges, v) && !allocated.includes(v)) free++;
        assert.equal(planFreeCount(pool, { allocated: new Set(allocated), releasedAt: new Map() }), free);
      }),
      { numRuns: 500 },
    );
  });
});

describe('segments and randomness spread concurrent writers', () => {
  const pool = v4Pool(['10.0.1.0-10.0.1.99'], '10.0.0.0/16');
  const ip = (text: string) => value(text);
  const used = (...ips: string[]): UsageView => ({ allocated: new Set(ips.map(ip)), releasedAt: new Map() });
  const cases: Array<[string, Parameters<typeof planNextIp>[2], UsageView, string]> = [
    ['segment 0 of 4 starts at the first IP', { now: 0, segment: { index: 0, count: 4 } }, used(), '10.0.1.0'],
    ['segment 2 of 4 starts at the half', { now: 0, segment: { index: 2, count: 4 } }, used(), '10.0.1.50'],
    ['a full segment overflows to the lowest free IP', { now: 0, segment: { index: 3, count: 4 } }, used(...Array.from({ length: 25 }, (_, i) => `10.0.1.${75 + i}`)), '10.0.1.0'],
    [
      'a full segment overflows from the random position',
      { now: 0, segment: { index: 3, count: 4 }, random: 0.5 },
      used(...Array.from({ length: 25 }, (_, i) => `10.0.1.${75 + i}`)),
      '10.0.1.50',
    ],
    ['without a segment, random picks the start', { now: 0, random: 0.25 }, used('10.0.1.25'), '10.0.1.26'],
  ];
  for (const [name, opts, usage, want] of cases) {
    test(name, () => assert.equal(formatAddress(planNextIp(pool, usage, opts)!), want));
  }

  test('released IPs: the oldest in the segment first, then one of the oldest anywhere', () => {
    const releasedAt = new Map<bigint, number>();
    for (let i = 0; i < 100; i++) releasedAt.set(ip(`10.0.1.${i}`), 1000 + i);
    const usage: UsageView = { allocated: new Set(), releasedAt };
    assert.equal(formatAddress(planNextIp(pool, usage, { now: 5000, segment: { index: 1, count: 2 } })!), '10.0.1.50');
    const outside: UsageView = { allocated: new Set(Array.from({ length: 50 }, (_, i) => ip(`10.0.1.${50 + i}`))), releasedAt: new Map([...releasedAt].filter(([v]) => v < ip('10.0.1.50'))) };
    // 50 eligible outside the segment: the window is max(16, 13) = 16 oldest.
    const picks = [0, 0.5, 0.99].map((random) => Number(planNextIp(pool, outside, { now: 5000, segment: { index: 1, count: 2 }, random })!.value & 0xffn));
    assert.deepEqual(picks, [0, 8, 15]);
  });
});
