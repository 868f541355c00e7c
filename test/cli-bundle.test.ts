// Checks what the shipped CLI bundle carries (needs `npm run build` first):
// the agent, controller and CLI in dist/tidepool.mjs load no simulator and
// no API server; the simulator and the API server it runs sit in
// dist/simulate.mjs, reached only by `tidepool simulate`; neither carries
// test code (the planted bugs, the API server's HTTP front).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

interface Output {
  entryPoint?: string;
  inputs: Record<string, unknown>;
  imports: Array<{ path: string; kind: string; external?: boolean }>;
}

const meta = JSON.parse(readFileSync('dist/meta.json', 'utf8')) as { outputs: Record<string, Output> };

/** An output and every output it imports statically, i.e. what loading it loads. */
function loaded(file: string): string[] {
  const seen = new Set<string>();
  const visit = (f: string): void => {
    if (seen.has(f)) return;
    const out = meta.outputs[f];
    assert.ok(out, `${f} is in the metafile`);
    seen.add(f);
    for (const i of out.imports) if (!i.external && i.kind === 'import-statement') visit(i.path);
  };
  visit(file);
  return [...seen];
}

const inputsOf = (file: string): string[] => loaded(file).flatMap((f) => Object.keys(meta.outputs[f]!.inputs));

test('dist/tidepool.mjs loads no simulator, no API server engine or router, no test code', () => {
  const inputs = inputsOf('dist/tidepool.mjs');
  assert.ok(inputs.includes('src/cli/main.ts') && inputs.includes('src/agent/daemon.ts') && inputs.includes('src/controller/main.ts'));
  for (const input of inputs) {
    assert.doesNotMatch(input, /^src\/sim\//, `${input} must not be loaded by the agent, controller or CLI`);
    assert.doesNotMatch(input, /^src\/apiserver\//, `${input} must not be loaded by the agent, controller or CLI`);
    assert.doesNotMatch(input, /^test\/|plants/, `${input} is test code`);
  }
  const dynamic = meta.outputs['dist/tidepool.mjs']!.imports.filter((i) => i.kind === 'dynamic-import' && !i.external).map((i) => i.path);
  assert.deepEqual(dynamic, ['dist/simulate.mjs'], 'the simulator is loaded on demand, by `tidepool simulate` only');
});

test('dist/simulate.mjs carries the simulator and the API server it runs, but no planted bug and no HTTP front', () => {
  assert.equal(meta.outputs['dist/simulate.mjs']?.entryPoint, 'src/cli/simulate.ts');
  const inputs = inputsOf('dist/simulate.mjs');
  for (const needed of ['src/sim/run.ts', 'src/sim/api-server.ts', 'src/apiserver/router.ts', 'src/apiserver/store.ts']) assert.ok(inputs.includes(needed), `${needed} is in the simulator's bundle`);
  for (const input of inputs) assert.doesNotMatch(input, /^test\/|plants/, `${input} is test code`);
});

test('every module is bundled once, so both entries share one instance of it', () => {
  const owners = new Map<string, string>();
  for (const [file, out] of Object.entries(meta.outputs)) {
    for (const input of Object.keys(out.inputs)) {
      assert.equal(owners.get(input), undefined, `${input} is in both ${owners.get(input)} and ${file}`);
      owners.set(input, file);
    }
  }
});

test('tidepool simulate runs from dist, and cannot plant a bug', () => {
  const ok = spawnSync(process.execPath, ['dist/tidepool.mjs', 'simulate', '--seed', '2'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^seed 2: every invariant held \(/);
  const planted = spawnSync(process.execPath, ['dist/tidepool.mjs', 'simulate', '--seed', '2', '--plant', 'trust-cache'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(planted.status, 2);
  assert.match(planted.stderr, /Unknown option '--plant'/);
});
