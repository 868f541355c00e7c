import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TidepoolError } from '../ipam/errors.ts';
import { createLogger } from './logger.ts';
import { formatTextLine } from './log-text.ts';

const at = Date.parse('2025-01-02T03:04:05.678Z');

function lines(format: 'json' | 'text'): { log: ReturnType<typeof createLogger>; out: string[] } {
  const out: string[] = [];
  return { log: createLogger({ format, now: () => at, write: (l) => out.push(l), bindings: { node: 'n1' } }), out };
}

test('text: time, level, message, then the bindings and fields as key=value', () => {
  const { log, out } = lines('text');
  log.info('tidepool agent started', { store: 'sqlite', pools: ['lan-v4', 'lan-v6'], gcGrace: '10s', ready: true, count: 3 });
  assert.deepEqual(out, ['2025-01-02T03:04:05.678Z INFO  tidepool agent started node=n1 store=sqlite pools=["lan-v4","lan-v6"] gcGrace=10s ready=true count=3']);
});

test('text: values that could be misread are quoted, so every entry stays one line with unambiguous fields', () => {
  assert.equal(formatTextLine('T', 'warn', 'two\nlines', { why: 'has space', eq: 'a=b', q: 'say "x"', nl: 'a\nb', empty: '', skipped: undefined, none: null }), 'T WARN  two\\nlines why="has space" eq="a=b" q="say \\"x\\"" nl="a\\nb" empty="" none=null');
});

test('text: an error is its message and code; JSON keeps message, code and stack', () => {
  const err = new TidepoolError('INVALID_CONFIG', '--pools x: no such file');
  const text = lines('text');
  text.log.error('could not start', { err });
  assert.equal(text.out[0], '2025-01-02T03:04:05.678Z ERROR could not start node=n1 err="--pools x: no such file (INVALID_CONFIG)"');
  const json = lines('json');
  json.log.error('could not start', { err });
  const entry = JSON.parse(json.out[0]!) as { err: { message: string; code: string; stack: string } };
  assert.equal(entry.err.message, '--pools x: no such file');
  assert.equal(entry.err.code, 'INVALID_CONFIG');
  assert.match(entry.err.stack, /TidepoolError/);
});

test('json stays the default', () => {
  const out: string[] = [];
  createLogger({ now: () => at, write: (l) => out.push(l) }).info('hello', { a: 1 });
  assert.deepEqual(JSON.parse(out[0]!), { time: '2025-01-02T03:04:05.678Z', level: 'info', msg: 'hello', a: 1 });
});
