import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TidepoolError } from '../ipam/errors.ts';
import { createLogger } from '../util/logger.ts';
import { openPoolFileState, type PoolFileStateOptions } from './pool-file-state.ts';

const poolYaml = (name: string, ips: string) => `apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata: {name: ${name}}\nspec: {subnet: 10.0.0.0/24, ips: ["${ips}"]}\n`;
const GOOD = poolYaml('lan', '10.0.0.10-10.0.0.20');
const RENAMED = poolYaml('lan2', '10.0.0.10-10.0.0.20');
const BROKEN = poolYaml('lan', '10.0.1.10-10.0.1.20');

/** A pools file in memory, a settings memory, a clock and captured logs. */
function world(initial: string | undefined, remembered?: string) {
  const w = {
    file: initial,
    memory: remembered,
    clock: 1_000,
    logs: [] as Array<{ level: string; msg: string; [k: string]: unknown }>,
    held: [] as Array<{ pool: string; ip: string }>,
  };
  const opts: PoolFileStateOptions = {
    path: '/etc/tidepool/pools.yaml',
    read: (path) => {
      if (w.file === undefined) throw new TidepoolError('INVALID_CONFIG', `--pools ${path}: no such file`, { field: '--pools' });
      return w.file;
    },
    memory: {
      read: async () => w.memory,
      write: async (text) => {
        w.memory = text;
      },
    },
    held: async () => w.held,
    now: () => w.clock,
    log: createLogger({ level: 'debug', write: (line) => w.logs.push(JSON.parse(line)) }),
  };
  return { w, opts };
}

describe('pools file state', () => {
  test('a valid file is served and remembered', async () => {
    const { w, opts } = world(GOOD);
    const state = await openPoolFileState(opts);
    assert.deepEqual(state.pools().map((p) => p.name), ['lan']);
    assert.equal(w.memory, GOOD);
    assert.deepEqual(state.status(), { path: '/etc/tidepool/pools.yaml', appliedAt: 1_000, source: 'file', refused: undefined });
  });

  test('a file broken at start: the pools last applied are served, the error is reported; with nothing applied before, the start is refused', async () => {
    const { w, opts } = world(BROKEN, GOOD);
    const state = await openPoolFileState(opts);
    assert.deepEqual(state.pools().map((p) => p.name), ['lan']);
    assert.equal(state.status().source, 'last-applied');
    assert.equal(state.status().refused?.code, 'INVALID_POOL');
    assert.match(state.status().refused?.message ?? '', /spec\.ips\[0\] "10\.0\.1\.10-10\.0\.1\.20" is outside subnet 10\.0\.0\.0\/24/);
    assert.equal(w.memory, GOOD, 'the broken file is not remembered');
    assert.ok(w.logs.some((l) => l.level === 'error' && /serving the pools last applied/.test(l.msg)));

    const missing = world(undefined, GOOD);
    assert.deepEqual((await openPoolFileState(missing.opts)).pools().map((p) => p.name), ['lan']);
    await assert.rejects(openPoolFileState(world(BROKEN).opts), { code: 'INVALID_POOL' });
    await assert.rejects(openPoolFileState(world(undefined).opts), /no such file/);
  });

  test('reload: applied, unchanged, refused (the pools served stay), then fixed', async () => {
    const { w, opts } = world(GOOD);
    const state = await openPoolFileState(opts);
    assert.equal((await state.reload('test')).result, 'unchanged');

    w.held = [{ pool: 'lan', ip: '10.0.0.12' }];
    w.file = RENAMED;
    w.clock = 2_000;
    const applied = await state.reload('test');
    assert.equal(applied.result, 'applied');
    assert.deepEqual([applied.plan?.added, applied.plan?.removed, applied.plan?.moves], [['lan2'], ['lan'], [{ pool: 'lan', ip: '10.0.0.12', to: 'lan2' }]]);
    assert.deepEqual(state.pools().map((p) => p.name), ['lan2']);
    assert.equal(state.status().appliedAt, 2_000);
    assert.equal(w.memory, RENAMED);

    w.file = BROKEN;
    w.clock = 3_000;
    const refused = await state.reload('test');
    assert.equal(refused.result, 'refused');
    assert.equal(refused.error?.code, 'INVALID_POOL');
    assert.deepEqual(state.pools().map((p) => p.name), ['lan2'], 'the pools served before stay');
    assert.deepEqual(state.status().refused && { at: state.status().refused!.at, code: state.status().refused!.code }, { at: 3_000, code: 'INVALID_POOL' });
    assert.equal(w.memory, RENAMED);
    const errors = w.logs.filter((l) => l.level === 'error').length;
    w.clock = 4_000;
    assert.equal((await state.reload('test')).result, 'refused', 'the same broken text is refused again');
    assert.equal(w.logs.filter((l) => l.level === 'error').length, errors, '…without logging it again');
    assert.equal(state.status().refused?.at, 3_000);

    w.file = RENAMED;
    assert.equal((await state.reload('test')).result, 'unchanged', 'a revert to what is served clears the refusal');
    assert.equal(state.status().refused, undefined);
  });

  test('a file that disappears is refused, not applied as "no pools"', async () => {
    const { w, opts } = world(GOOD);
    const state = await openPoolFileState(opts);
    w.file = undefined;
    assert.equal((await state.reload('test')).result, 'refused');
    assert.deepEqual(state.pools().map((p) => p.name), ['lan']);
    assert.match(state.status().refused?.message ?? '', /no such file/);
  });

  test('check tells what an edit would do and changes nothing', async () => {
    const { w, opts } = world(GOOD);
    const state = await openPoolFileState(opts);
    w.held = [{ pool: 'lan', ip: '10.0.0.19' }];
    const shrunk = await state.check(poolYaml('lan', '10.0.0.10-10.0.0.15'), 'edit.yaml');
    assert.ok(shrunk.ok);
    assert.deepEqual([shrunk.plan.changed, shrunk.plan.orphaned], [['lan'], [{ pool: 'lan', ip: '10.0.0.19', reason: 'outside-pool' }]]);
    const bad = await state.check('kind: [', 'edit.yaml');
    assert.ok(!bad.ok);
    assert.equal(bad.error.code, 'DECODE_FAILED');
    assert.match(bad.error.message, /^edit\.yaml:1: not valid YAML/);
    assert.deepEqual(state.pools().map((p) => p.name), ['lan']);
    assert.equal(w.memory, GOOD);
  });
});
