// Checks the shipped plugin artefact: what went into the bundle, and that
// the executable (bun-compiled or node bundle) behaves like run() does.
// Needs `npm run build` first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFakeAgent } from './helpers/fake-agent.ts';
import type { FakeAgent } from './helpers/fake-agent.ts';

const PLUGIN = 'dist/cni/tidepool';
const FORBIDDEN = [/src\/store\//, /src\/agent\//, /node_modules\//, /kubernetes/i, /sqlite/i, /prom-client/, /yaml/i];
// The plugin may only depend on these besides its own folder.
const ALLOWED_OUTSIDE_CNI = new Set(['src/api/protocol.ts', 'src/ipam/errors.ts']);

interface Metafile {
  inputs: Record<string, { imports: Array<{ path: string; external?: boolean }> }>;
}

const meta = JSON.parse(readFileSync('dist/cni/meta.json', 'utf8')) as Metafile;

test('the plugin bundle contains no store, agent, dependency or heavy module', () => {
  const inputs = Object.keys(meta.inputs);
  assert.ok(inputs.includes('src/cni/main.ts'), 'metafile lists the entry');
  for (const input of inputs) {
    for (const pattern of FORBIDDEN) assert.doesNotMatch(input, pattern, `${input} must not be in the plugin bundle`);
    assert.ok(input.startsWith('src/cni/') || ALLOWED_OUTSIDE_CNI.has(input), `${input} is outside the plugin's allowed imports`);
  }
  const externals = Object.values(meta.inputs).flatMap((i) => i.imports.filter((imp) => imp.external).map((imp) => imp.path));
  for (const ext of externals) assert.match(ext, /^node:(fs|net)$/, `only light node built-ins are imported, got ${ext}`);
});

test('dist/cni/tidepool exists, is executable and matches build-info.json', () => {
  const st = statSync(PLUGIN);
  assert.ok(st.isFile());
  accessSync(PLUGIN, constants.X_OK);
  const info = JSON.parse(readFileSync('dist/cni/build-info.json', 'utf8')) as { runtime: string };
  assert.ok(['bun-bytecode', 'bun', 'node'].includes(info.runtime), info.runtime);
  const head = readFileSync(PLUGIN).subarray(0, 20).toString('latin1');
  if (info.runtime === 'node') assert.ok(head.startsWith('#!/usr/bin/env node\n'), 'node fallback keeps its shebang');
  else assert.ok(head.startsWith('\x7fELF'), 'a bun build is a native executable');
});

interface Exec {
  code: number | null;
  stdout: string;
  stderr: string;
}

// Async on purpose: the fake agent answers from this same event loop.
function exec(env: Record<string, string>, stdin: string, cwd?: string): Promise<Exec> {
  return new Promise((resolve, reject) => {
    // A clean environment, as kubelet's runtime gives the plugin.
    const child = spawn(join(process.cwd(), PLUGIN), [], { env: { PATH: '/usr/bin:/bin', ...env }, stdio: 'pipe', cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    // The plugin stops reading oversized input; the rest of the write may hit EPIPE.
    child.stdin.on('error', () => {});
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

let agent: FakeAgent;
before(async () => {
  agent = await createFakeAgent({
    '/v1/allocate': () => ({ body: { ips: [{ address: '10.9.0.5/24', family: 4, gateway: '10.9.0.1', pool: 'p' }], routes: [] } }),
    '/v1/release': () => ({ body: { released: [] } }),
  });
});
after(() => agent.close());

const attachment = { CNI_CONTAINERID: 'bundle-test', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', CNI_PATH: '/usr/lib/cni' };
const conf = (socket: string, version = '1.0.0') => JSON.stringify({ cniVersion: version, name: 'n', ipam: { type: 'tidepool', socket } });

test('the executable answers VERSION', async () => {
  const r = await exec({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"0.4.0"}');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
});

test('the executable ignores .env and bunfig.toml in the working directory it is started in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-cwd-'));
  try {
    writeFileSync(join(dir, '.env'), 'CNI_COMMAND=VERSION\n');
    writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./nope.ts"]\n');
    const r = await exec({}, '{"cniVersion":"1.0.0"}', dir);
    assert.equal(r.code, 1, 'CNI_COMMAND must come from the environment only');
    assert.equal(JSON.parse(r.stdout).code, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the executable runs ADD and DEL against the agent socket', async () => {
  const add = await exec({ CNI_COMMAND: 'ADD', ...attachment }, conf(agent.socket, '0.3.1'));
  assert.equal(add.code, 0, add.stdout + add.stderr);
  assert.deepEqual(JSON.parse(add.stdout), { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.9.0.5/24', gateway: '10.9.0.1' }], routes: [], dns: {} });
  const del = await exec({ CNI_COMMAND: 'DEL', ...attachment }, conf(agent.socket));
  assert.deepEqual([del.code, del.stdout, del.stderr], [0, '', '']);
  assert.deepEqual(
    agent.requests.map((r) => r.path),
    ['/v1/allocate', '/v1/release'],
  );
});

test('the executable reports an unreachable agent: ADD code 11, DEL warns and exits 0', async () => {
  const socket = '/nonexistent/tidepool/agent.sock';
  const add = await exec({ CNI_COMMAND: 'ADD', ...attachment }, conf(socket));
  assert.equal(add.code, 1);
  const err = JSON.parse(add.stdout) as { code: number; msg: string; cniVersion: string };
  assert.equal(err.code, 11);
  assert.equal(err.cniVersion, '1.0.0');
  assert.ok(err.msg.includes(socket), err.msg);
  const del = await exec({ CNI_COMMAND: 'DEL', ...attachment }, conf(socket));
  assert.equal(del.code, 0);
  assert.match(del.stderr, /warning: DEL bundle-test\/eth0/);
});

test('the executable refuses stdin over 1 MiB with code 6', async () => {
  const r = await exec({ CNI_COMMAND: 'ADD', ...attachment }, ' '.repeat(1024 * 1024 + 1));
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.stdout) as { code: number }).code, 6);
});
