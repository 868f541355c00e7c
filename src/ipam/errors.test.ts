import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_TABLE, ERROR_CODES, TidepoolError, isErrorCode, toTidepoolError } from './errors.ts';

test('docs/errors.md lists exactly the codes of ERROR_TABLE with the same CNI code, HTTP status and retry policy', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { cni: number; http: number; retry: string; summary: string }>();
  for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (\d+) \| ([a-z-]+) \| (.*) \|$/gm)) {
    rows.set(m[1]!, { cni: Number(m[2]), http: Number(m[3]), retry: m[4]!, summary: m[5]! });
  }
  assert.deepEqual([...rows.keys()].sort(), [...ERROR_CODES].sort());
  for (const [code, spec] of Object.entries(ERROR_TABLE)) {
    assert.deepEqual(rows.get(code), { cni: spec.cni, http: spec.http, retry: spec.retry, summary: spec.summary }, code);
  }
});

test('CNI codes: spec codes stay below 100, tidepool codes are unique from 100 up', () => {
  const ours = Object.values(ERROR_TABLE).filter((s) => s.cni >= 100).map((s) => s.cni);
  assert.equal(new Set(ours).size, ours.length, 'tidepool CNI codes must be unique');
  for (const s of Object.values(ERROR_TABLE)) assert.ok([1, 2, 3, 4, 5, 6, 7, 11, 50, 51].includes(s.cni) || s.cni >= 100, `${s.cni}`);
});

test('TidepoolError keeps code and details; foreign errors become INTERNAL', () => {
  const e = new TidepoolError('POOL_EXHAUSTED', 'no free IPv4 address in pool "a"', { pools: ['a'] });
  assert.deepEqual(e.toJSON(), { code: 'POOL_EXHAUSTED', message: 'no free IPv4 address in pool "a"', details: { pools: ['a'] } });
  assert.equal(e.spec.cni, 100);
  assert.equal(toTidepoolError(e), e);
  assert.equal(toTidepoolError(new Error('boom')).code, 'INTERNAL');
  assert.equal(isErrorCode('POOL_EXHAUSTED'), true);
  assert.equal(isErrorCode('toString'), false);
});
