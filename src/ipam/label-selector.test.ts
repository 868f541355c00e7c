import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TidepoolError } from './errors.ts';
import type { LabelSelector, LabelSelectorRequirement } from './label-selector.ts';
import { formatLabelSelector, isLabelKey, isLabelValue, matchesLabelSelector, planLabelSelector } from './label-selector.ts';

function expectError(fn: () => unknown, code: string, message: string, details?: Record<string, unknown>): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TidepoolError, `expected TidepoolError, got ${String(err)}`);
    assert.equal(err.message, message);
    assert.equal(err.code, code);
    if (details) assert.deepEqual(err.details, details);
    return true;
  });
}

describe('label syntax', () => {
  const keys: [string, boolean][] = [
    ['zone', true],
    ['a', true],
    ['A_b.c-d', true],
    ['topology.kubernetes.io/zone', true],
    ['example.com/a', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['', false],
    ['-a', false],
    ['a-', false],
    ['a b', false],
    ['/a', false],
    ['Example.com/a', false],
    ['example.com/', false],
    ['a/b/c', false],
    [`${'a'.repeat(254)}/x`, false],
  ];
  for (const [key, ok] of keys) test(`key ${JSON.stringify(key.length > 30 ? `${key.slice(0, 10)}…(${key.length})` : key)} is ${ok ? 'valid' : 'invalid'}`, () => assert.equal(isLabelKey(key), ok));

  const values: [string, boolean][] = [
    ['', true],
    ['east', true],
    ['v1.2_3-x', true],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['a b', false],
    ['_a', false],
    ['a/b', false],
  ];
  for (const [value, ok] of values) test(`value ${JSON.stringify(value.length > 30 ? `(${value.length})` : value)} is ${ok ? 'valid' : 'invalid'}`, () => assert.equal(isLabelValue(value), ok));
});

describe('matchesLabelSelector', () => {
  const labels = { zone: 'east', tier: 'web', empty: '' };
  const cases: [string, LabelSelector | undefined, Record<string, string> | undefined, boolean][] = [
    ['undefined selector matches anything', undefined, labels, true],
    ['undefined selector matches undefined labels', undefined, undefined, true],
    ['empty selector matches anything', {}, labels, true],
    ['empty lists match anything', { matchLabels: {}, matchExpressions: [] }, {}, true],
    ['matchLabels hit', { matchLabels: { zone: 'east' } }, labels, true],
    ['matchLabels wrong value', { matchLabels: { zone: 'west' } }, labels, false],
    ['matchLabels missing key', { matchLabels: { rack: 'r1' } }, labels, false],
    ['matchLabels all must hold', { matchLabels: { zone: 'east', tier: 'db' } }, labels, false],
    ['matchLabels empty value', { matchLabels: { empty: '' } }, labels, true],
    ['matchLabels empty value needs the key', { matchLabels: { rack: '' } }, labels, false],
    ['undefined labels fail matchLabels', { matchLabels: { zone: 'east' } }, undefined, false],
    ['In hit', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['west', 'east'] }] }, labels, true],
    ['In miss', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['west'] }] }, labels, false],
    ['In absent key', { matchExpressions: [{ key: 'rack', operator: 'In', values: ['r1'] }] }, labels, false],
    ['NotIn hit', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['west'] }] }, labels, true],
    ['NotIn miss', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['east'] }] }, labels, false],
    ['NotIn absent key holds', { matchExpressions: [{ key: 'rack', operator: 'NotIn', values: ['r1'] }] }, labels, true],
    ['Exists hit', { matchExpressions: [{ key: 'empty', operator: 'Exists' }] }, labels, true],
    ['Exists miss', { matchExpressions: [{ key: 'rack', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist hit', { matchExpressions: [{ key: 'rack', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist miss', { matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels, false],
    [
      'labels and expressions are ANDed',
      { matchLabels: { zone: 'east' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] },
      labels,
      false,
    ],
    ['prototype names are not labels (Exists)', { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {}, false],
    ['prototype names are not labels (DoesNotExist)', { matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] }, {}, true],
    ['an own label named constructor counts', { matchLabels: { constructor: 'x' } }, { constructor: 'x' }, true],
  ];
  for (const [name, sel, have, want] of cases) test(name, () => assert.equal(matchesLabelSelector(sel, have), want));

  // A deliberately naive reading of the Kubernetes rules, written separately to cross-check the implementation.
  function reference(sel: LabelSelector, have: Record<string, string>): boolean {
    const keys = new Set(Object.keys(have));
    for (const k of Object.keys(sel.matchLabels ?? {})) {
      if (!keys.has(k) || have[k] !== sel.matchLabels?.[k]) return false;
    }
    for (const r of sel.matchExpressions ?? []) {
      const present = keys.has(r.key);
      const listed = present && (r.values ?? []).some((v) => v === have[r.key]);
      const ok = r.operator === 'Exists' ? present : r.operator === 'DoesNotExist' ? !present : r.operator === 'In' ? listed : !listed;
      if (!ok) return false;
    }
    return true;
  }

  test('agrees with a reference implementation (property)', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'x.io/d');
    const value = fc.constantFrom('', '1', '2', '3');
    const requirement: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
      fc.record({ key, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.array(value, { minLength: 1, maxLength: 3 }) }),
      fc.record({ key, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
    );
    const selector: fc.Arbitrary<LabelSelector> = fc.record(
      { matchLabels: fc.dictionary(key, value, { maxKeys: 2 }), matchExpressions: fc.array(requirement, { maxLength: 3 }) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(selector, fc.dictionary(key, value, { maxKeys: 4 }), (sel, have) => {
        assert.equal(matchesLabelSelector(sel, have), reference(sel, have));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatLabelSelector', () => {
  const cases: [string, LabelSelector | undefined, string][] = [
    ['undefined', undefined, ''],
    ['empty', {}, ''],
    ['matchLabels', { matchLabels: { zone: 'east', tier: 'web' } }, 'zone=east,tier=web'],
    [
      'every operator, in written order',
      {
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'c', operator: 'In', values: ['x', 'y'] },
          { key: 'd', operator: 'NotIn', values: ['z'] },
          { key: 'e', operator: 'Exists' },
          { key: 'f', operator: 'DoesNotExist' },
        ],
      },
      'a=b,c in (x,y),d notin (z),e,!f',
    ],
  ];
  for (const [name, sel, want] of cases) test(name, () => assert.equal(formatLabelSelector(sel), want));
});

describe('planLabelSelector: valid selectors', () => {
  const cases: [string, unknown, LabelSelector][] = [
    ['empty object', {}, {}],
    ['null lists count as absent', { matchLabels: null, matchExpressions: null }, {}],
    ['matchLabels', { matchLabels: { 'topology.kubernetes.io/zone': 'east', empty: '' } }, { matchLabels: { 'topology.kubernetes.io/zone': 'east', empty: '' } }],
    [
      'expressions; null values allowed for Exists',
      {
        matchExpressions: [
          { key: 'a', operator: 'In', values: ['1', '2'] },
          { key: 'b', operator: 'Exists', values: null },
          { key: 'c', operator: 'DoesNotExist', values: [] },
          { key: 'd', operator: 'NotIn', values: [''] },
        ],
      },
      {
        matchExpressions: [
          { key: 'a', operator: 'In', values: ['1', '2'] },
          { key: 'b', operator: 'Exists' },
          { key: 'c', operator: 'DoesNotExist' },
          { key: 'd', operator: 'NotIn', values: [''] },
        ],
      },
    ],
  ];
  for (const [name, input, want] of cases) test(name, () => assert.deepEqual(planLabelSelector(input, 'spec.nodeAffinity', 'pool "lan"'), want));
});

describe('planLabelSelector: rejections name the owner and the field', () => {
  const f = 'spec.nodeAffinity';
  const cases: [string, unknown, string, string][] = [
    ['not an object', 'zone=east', `${f} must be an object with matchLabels and/or matchExpressions, got "zone=east"`, f],
    ['a list', [], `${f} must be an object with matchLabels and/or matchExpressions, got a list`, f],
    ['nothing', undefined, `${f} must be an object with matchLabels and/or matchExpressions, got nothing`, f],
    ['unknown field', { matchFields: [] }, `${f}.matchFields is not a known field`, `${f}.matchFields`],
    ['miscased field', { matchlabels: {} }, `${f}.matchlabels is not a known field (did you mean ${f}.matchLabels?)`, `${f}.matchlabels`],
    ['matchLabels a list', { matchLabels: ['a'] }, `${f}.matchLabels must be an object of label keys to values, got a list`, `${f}.matchLabels`],
    ['matchLabels bad key', { matchLabels: { 'a b': 'x' } }, `${f}.matchLabels key "a b" is not a valid label key`, `${f}.matchLabels["a b"]`],
    ['matchLabels value not a string', { matchLabels: { zone: 1 } }, `${f}.matchLabels["zone"] must be a string, got 1`, `${f}.matchLabels["zone"]`],
    ['matchLabels bad value', { matchLabels: { zone: 'e ast' } }, `${f}.matchLabels["zone"] "e ast" is not a valid label value`, `${f}.matchLabels["zone"]`],
    ['matchExpressions not a list', { matchExpressions: {} }, `${f}.matchExpressions must be a list, got an object`, `${f}.matchExpressions`],
    [
      'expression not an object',
      { matchExpressions: ['zone in (a)'] },
      `${f}.matchExpressions[0] must be an object with key, operator and values, got "zone in (a)"`,
      `${f}.matchExpressions[0]`,
    ],
    [
      'expression unknown field',
      { matchExpressions: [{ key: 'a', operator: 'Exists', value: 'x' }] },
      `${f}.matchExpressions[0].value is not a known field`,
      `${f}.matchExpressions[0].value`,
    ],
    ['key missing', { matchExpressions: [{ operator: 'Exists' }] }, `${f}.matchExpressions[0].key is required`, `${f}.matchExpressions[0].key`],
    ['key not a string', { matchExpressions: [{ key: 5, operator: 'Exists' }] }, `${f}.matchExpressions[0].key must be a string, got 5`, `${f}.matchExpressions[0].key`],
    ['key invalid', { matchExpressions: [{ key: 'a/b/c', operator: 'Exists' }] }, `${f}.matchExpressions[0].key "a/b/c" is not a valid label key`, `${f}.matchExpressions[0].key`],
    ['operator missing', { matchExpressions: [{ key: 'a' }] }, `${f}.matchExpressions[0].operator is required`, `${f}.matchExpressions[0].operator`],
    [
      'operator unknown',
      { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] },
      `${f}.matchExpressions[0].operator must be one of In, NotIn, Exists, DoesNotExist, got "Gt"`,
      `${f}.matchExpressions[0].operator`,
    ],
    [
      'operator miscased',
      { matchExpressions: [{ key: 'a', operator: 'notin', values: ['1'] }] },
      `${f}.matchExpressions[0].operator must be one of In, NotIn, Exists, DoesNotExist, got "notin" (did you mean NotIn?)`,
      `${f}.matchExpressions[0].operator`,
    ],
    [
      'In without values',
      { matchExpressions: [{ key: 'a', operator: 'In' }] },
      `${f}.matchExpressions[0].values must be non-empty for operator In`,
      `${f}.matchExpressions[0].values`,
    ],
    [
      'NotIn with empty values',
      { matchExpressions: [{ key: 'a', operator: 'Exists' }, { key: 'a', operator: 'NotIn', values: [] }] },
      `${f}.matchExpressions[1].values must be non-empty for operator NotIn`,
      `${f}.matchExpressions[1].values`,
    ],
    [
      'Exists with values',
      { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
      `${f}.matchExpressions[0].values must be empty for operator Exists`,
      `${f}.matchExpressions[0].values`,
    ],
    [
      'DoesNotExist with values',
      { matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: [''] }] },
      `${f}.matchExpressions[0].values must be empty for operator DoesNotExist`,
      `${f}.matchExpressions[0].values`,
    ],
    [
      'values not a list',
      { matchExpressions: [{ key: 'a', operator: 'In', values: 'x' }] },
      `${f}.matchExpressions[0].values must be a list of strings, got "x"`,
      `${f}.matchExpressions[0].values`,
    ],
    [
      'value not a string',
      { matchExpressions: [{ key: 'a', operator: 'In', values: ['x', 2] }] },
      `${f}.matchExpressions[0].values[1] must be a string, got 2`,
      `${f}.matchExpressions[0].values[1]`,
    ],
    [
      'value invalid',
      { matchExpressions: [{ key: 'a', operator: 'In', values: ['x y'] }] },
      `${f}.matchExpressions[0].values[0] "x y" is not a valid label value`,
      `${f}.matchExpressions[0].values[0]`,
    ],
  ];
  for (const [name, input, text, fieldPath] of cases) {
    test(name, () => expectError(() => planLabelSelector(input, f, 'pool "lan"'), 'INVALID_CONFIG', `pool "lan": ${text}`, { field: fieldPath }));
  }

  test('the error code can be chosen', () => {
    expectError(() => planLabelSelector(7, 'sel', 'netconf', 'INVALID_REQUEST'), 'INVALID_REQUEST', 'netconf: sel must be an object with matchLabels and/or matchExpressions, got 7');
  });
});
