import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../../src/apiserver/selectors.ts';
import { applyJsonPatch, applyMergePatch, PatchError } from '../../src/apiserver/patch.ts';

test('label selector matching', () => {
  const l = { app: 'web', tier: 'front', n: '7' };
  const cases: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app=db', false],
    ['app!=db', true],
    ['missing!=x', true],
    ['app in (db, web)', true],
    ['app notin (web)', false],
    ['missing notin (web)', true],
    ['missing in (web)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=web,tier=back', false],
    ['n>5', true],
    ['n<5', false],
    ['app=', false],
    ['example.com/key=v', false],
  ];
  for (const [sel, want] of cases) assert.equal(parseLabelSelector(sel).matches(l), want, sel);
  assert.equal(parseLabelSelector('empty=').matches({ empty: '' }), true);
});

test('malformed label selectors are rejected', () => {
  for (const bad of ['app in ()', 'app in (a', 'app=web db', '=x', 'app in a', 'bad key=x', 'app=va lue', 'a,,b', 'k=' + 'v'.repeat(64), 'n>x', 'app notin']) {
    assert.throws(() => parseLabelSelector(bad), SelectorError, bad);
  }
});

test('field selectors: operators and escapes', () => {
  assert.deepEqual(parseFieldSelector('spec.nodeName=n1,status.phase!=Running,metadata.name==a\\,b'), [
    { field: 'spec.nodeName', op: '=', value: 'n1' },
    { field: 'status.phase', op: '!=', value: 'Running' },
    { field: 'metadata.name', op: '=', value: 'a,b' },
  ]);
  assert.deepEqual(parseFieldSelector(''), []);
  assert.throws(() => parseFieldSelector('spec.nodeName'), /can't understand 'spec.nodeName'/);
  assert.throws(() => parseFieldSelector('a=b\\x'), SelectorError);
});

test('merge patch follows the RFC 7386 examples', () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, want] of cases) assert.deepEqual(applyMergePatch(target, patch), want, JSON.stringify([target, patch]));
});

test('merge patch never mutates its input and is idempotent', () => {
  const json = fc.jsonValue({ maxDepth: 3 });
  fc.assert(
    fc.property(json, json, (target, patch) => {
      const before = JSON.stringify(target);
      const once = applyMergePatch(target, patch);
      assert.equal(JSON.stringify(target), before);
      assert.deepEqual(applyMergePatch(once, patch), once);
    }),
  );
});

test('JSON patch ops, pointer escapes and failures', () => {
  const doc = { a: { 'b/c': 1, 'd~e': 2 }, list: [1, 2, 3] };
  assert.deepEqual(
    applyJsonPatch(doc, [
      { op: 'replace', path: '/a/b~1c', value: 10 },
      { op: 'remove', path: '/a/d~0e' },
      { op: 'add', path: '/list/-', value: 4 },
      { op: 'add', path: '/list/0', value: 0 },
      { op: 'move', from: '/list/1', path: '/moved' },
      { op: 'test', path: '/moved', value: 1 },
    ]),
    { a: { 'b/c': 10 }, list: [0, 2, 3, 4], moved: 1 },
  );
  assert.deepEqual(doc.list, [1, 2, 3], 'input untouched');
  const fails = (patch: unknown, code: number): void => {
    assert.throws(
      () => applyJsonPatch(doc, patch),
      (e: unknown) => e instanceof PatchError && e.code === code,
      JSON.stringify(patch),
    );
  };
  fails([{ op: 'test', path: '/a/b~1c', value: 2 }], 422);
  fails([{ op: 'remove', path: '/nope' }], 422);
  fails([{ op: 'replace', path: '/nope', value: 1 }], 422);
  fails([{ op: 'add', path: '/list/9', value: 1 }], 422);
  fails([{ op: 'add', path: '/x/y', value: 1 }], 422);
  fails([{ op: 'bogus', path: '/a' }], 422);
  fails({ op: 'add' }, 400);
});
