import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Family } from './address.ts';
import {
  addressBits,
  cidrContains,
  cidrFirst,
  cidrLast,
  formatAddress,
  formatCidr,
  parseAddress,
  parseCidr,
  parseCidrLoose,
} from './address.ts';

describe('parseAddress', () => {
  const valid: [string, Family, bigint][] = [
    ['0.0.0.0', 4, 0n],
    ['255.255.255.255', 4, 0xffffffffn],
    ['10.6.0.1', 4, 0x0a060001n],
    ['192.168.100.200', 4, 0xc0a864c8n],
    ['::', 6, 0n],
    ['::1', 6, 1n],
    ['1::', 6, 1n << 112n],
    ['fd00::', 6, 0xfd00n << 112n],
    ['FD00::ABCD', 6, (0xfd00n << 112n) | 0xabcdn],
    ['2001:db8:0:0:0:0:0:1', 6, (0x20010db8n << 96n) | 1n],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 6, (0x20010db8n << 96n) | 1n],
    ['1:2:3:4:5:6:7::', 6, 0x0001000200030004000500060007_0000n],
    ['::2:3:4:5:6:7:8', 6, 0x0000000200030004000500060007_0008n],
    ['::ffff:1.2.3.4', 6, 0xffff01020304n],
    ['::FFFF:10.0.0.1', 6, 0xffff0a000001n],
    ['64:ff9b::192.0.2.33', 6, (0x64ff9bn << 96n) | 0xc0000221n],
    ['1:2:3:4:5:6:1.2.3.4', 6, 0x000100020003000400050006_01020304n],
  ];
  for (const [text, family, value] of valid) {
    test(`accepts ${text}`, () => {
      assert.deepEqual(parseAddress(text), { family, value });
    });
  }

  const invalid = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '010.0.0.1',
    '1.2.3.04',
    '256.0.0.1',
    '1.2.3.-1',
    '1.2.3.+1',
    '0x1.2.3.4',
    '1..2.3',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10.0.0.1\n',
    '10',
    '4294967295',
    ':',
    ':::',
    '1:::2',
    '1::2::3',
    ':1::',
    '::1:',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4::5:6:7:8',
    '12345::',
    'g::1',
    'fe80::1%eth0',
    '[::1]',
    '::1.2.3',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '::ffff:256.1.1.1',
    '::ffff:01.1.1.1',
    '1:2:3:4:5:6:7:1.2.3.4',
    '１.2.3.4',
  ];
  for (const text of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseAddress(text), undefined);
    });
  }
});

describe('formatAddress', () => {
  const cases: [string, string][] = [
    ['10.6.0.1', '10.6.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // tie: first run
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // single zero group stays
    ['fd00:0:0:0:0:0:0:0', 'fd00::'],
    ['0:0:0:0:0:0:0:5', '::5'],
    ['1:2:3:4:5:6:7:0', '1:2:3:4:5:6:7:0'],
    ['0:1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:0102:0304', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['abcd:ef01:0023:0004:0000:0000:0000:0000', 'abcd:ef01:23:4::'],
  ];
  for (const [input, expected] of cases) {
    test(`${input} -> ${expected}`, () => {
      const a = parseAddress(input);
      assert.ok(a);
      assert.equal(formatAddress(a), expected);
    });
  }

  const familyAndValue = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value) => ({ family: 4 as Family, value })),
    fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((value) => ({ family: 6 as Family, value })),
    // Values with many zero groups exercise '::' placement.
    fc
      .array(fc.constantFrom(0n, 0n, 0n, 1n, 0xffffn, 0xabcn), { minLength: 8, maxLength: 8 })
      .map((gs) => ({ family: 6 as Family, value: gs.reduce<bigint>((acc, g) => (acc << 16n) | g, 0n) })),
  );

  test('format then parse gives the same address (property)', () => {
    fc.assert(
      fc.property(familyAndValue, (a) => {
        const text = formatAddress(a);
        assert.deepEqual(parseAddress(text), a);
        assert.equal(text, text.toLowerCase());
        assert.ok(!/(^|:)0[0-9a-f]/.test(text), `leading zero in ${text}`);
      }),
      { numRuns: 2000 },
    );
  });

  test('IPv6 output never compresses a single zero group and compresses the longest run (property)', () => {
    fc.assert(
      fc.property(familyAndValue.filter((a) => a.family === 6 && a.value >> 32n !== 0xffffn), (a) => {
        const text = formatAddress(a);
        const groups: bigint[] = [];
        for (let s = 112n; s >= 0n; s -= 16n) groups.push((a.value >> s) & 0xffffn);
        let longest = 0;
        let run = 0;
        for (const g of groups) {
          run = g === 0n ? run + 1 : 0;
          longest = Math.max(longest, run);
        }
        if (longest >= 2) {
          assert.ok(text.includes('::'), text);
          const explicit = text.split('::').flatMap((h) => (h === '' ? [] : h.split(':')));
          assert.equal(8 - explicit.length, longest, text);
        } else {
          assert.ok(!text.includes('::'), text);
          assert.equal(text.split(':').length, 8);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseCidr and parseCidrLoose', () => {
  const cases: [string, { family: Family; network: bigint; prefix: number } | undefined, boolean][] = [
    // text, strict result, loose accepts
    ['10.0.0.0/24', { family: 4, network: 0x0a000000n, prefix: 24 }, true],
    ['0.0.0.0/0', { family: 4, network: 0n, prefix: 0 }, true],
    ['10.0.0.1/32', { family: 4, network: 0x0a000001n, prefix: 32 }, true],
    ['fd00::/64', { family: 6, network: 0xfd00n << 112n, prefix: 64 }, true],
    ['::/0', { family: 6, network: 0n, prefix: 0 }, true],
    ['::1/128', { family: 6, network: 1n, prefix: 128 }, true],
    ['10.0.0.5/24', undefined, true],
    ['fd00::1/64', undefined, true],
    ['1.2.3.4/0', undefined, true],
    ['10.0.0.0/33', undefined, false],
    ['fd00::/129', undefined, false],
    ['10.0.0.0/024', undefined, false],
    ['10.0.0.0/', undefined, false],
    ['10.0.0.0', undefined, false],
    ['/24', undefined, false],
    ['10.0.0.0/24/1', undefined, false],
    ['10.0.0.0/-1', undefined, false],
    ['10.0.0.0/ 24', undefined, false],
    ['10.0.0.0/+24', undefined, false],
    ['abc', undefined, false],
  ];
  for (const [text, strict, loose] of cases) {
    test(`${text}`, () => {
      assert.deepEqual(parseCidr(text), strict);
      assert.equal(parseCidrLoose(text) !== undefined, loose);
    });
  }

  test('parseCidrLoose keeps the host bits', () => {
    assert.deepEqual(parseCidrLoose('10.6.0.5/24'), { address: { family: 4, value: 0x0a060005n }, prefix: 24 });
  });

  test('formatCidr is canonical and round-trips', () => {
    const c = parseCidr('FD00:0:0:0::/64');
    assert.ok(c);
    assert.equal(formatCidr(c), 'fd00::/64');
    assert.deepEqual(parseCidr(formatCidr(c)), c);
  });
});

describe('cidr bounds and containment', () => {
  const cases: [string, string, string][] = [
    ['10.6.0.0/24', '10.6.0.0', '10.6.0.255'],
    ['10.6.0.4/31', '10.6.0.4', '10.6.0.5'],
    ['10.6.0.7/32', '10.6.0.7', '10.6.0.7'],
    ['0.0.0.0/0', '0.0.0.0', '255.255.255.255'],
    ['fd00::/64', 'fd00::', 'fd00::ffff:ffff:ffff:ffff'],
    ['::/0', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
  ];
  for (const [cidr, first, last] of cases) {
    test(cidr, () => {
      const c = parseCidr(cidr);
      assert.ok(c);
      assert.equal(formatAddress({ family: c.family, value: cidrFirst(c) }), first);
      assert.equal(formatAddress({ family: c.family, value: cidrLast(c) }), last);
      assert.equal(cidrContains(c, { family: c.family, value: cidrFirst(c) }), true);
      assert.equal(cidrContains(c, { family: c.family, value: cidrLast(c) }), true);
      if (cidrLast(c) < (1n << BigInt(addressBits(c.family))) - 1n) {
        assert.equal(cidrContains(c, { family: c.family, value: cidrLast(c) + 1n }), false);
      }
      if (cidrFirst(c) > 0n) assert.equal(cidrContains(c, { family: c.family, value: cidrFirst(c) - 1n }), false);
    });
  }

  test('cidrContains is false on family mismatch', () => {
    const c = parseCidr('::/0');
    assert.ok(c);
    assert.equal(cidrContains(c, { family: 4, value: 1n }), false);
    assert.equal(cidrContains(c, { family: 6, value: 1n }), true);
  });

  test('addressBits', () => {
    assert.equal(addressBits(4), 32);
    assert.equal(addressBits(6), 128);
  });
});
