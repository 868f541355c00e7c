import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AllocateResponse, PoolStatus, StatusResponse } from '../api/protocol.ts';
import { createFakeAgent } from '../../test/helpers/fake-agent.ts';
import type { FakeAgent, FakeReply } from '../../test/helpers/fake-agent.ts';
import type { Env } from './env.ts';
import { STDIN_LIMIT, planExhaustedPools, readInput, run } from './run.ts';
import type { StdinSource } from './run.ts';

let agent: FakeAgent;
let scratch: string;
let missingSocket: string;

before(async () => {
  agent = await createFakeAgent();
  scratch = mkdtempSync(join(tmpdir(), 'tidepool-cni-run-'));
  missingSocket = join(scratch, 'nobody.sock');
});
after(async () => {
  await agent.close();
  rmSync(scratch, { recursive: true, force: true });
});

const allocation: AllocateResponse = {
  ips: [{ address: '10.1.0.5/24', family: 4, gateway: '10.1.0.1', pool: 'blue' }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
};

function netconf(over: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.1.0', name: 'underlay', type: 'bridge', ipam: { type: 'tidepool', socket: agent.socket, ...ipam }, ...over });
}

function env(command: string, over: Env = {}): Env {
  return { CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/1/ns/net', CNI_PATH: '/usr/lib/cni', ...over };
}

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed, or undefined when empty */
  readonly out: Record<string, unknown> | undefined;
}

async function invoke(e: Env, stdin: StdinSource): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await run({ env: e, stdin, stdout: { write: (t) => (stdout += t) }, stderr: { write: (t) => (stderr += t) } });
  return { code, stdout, stderr, out: stdout === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>) };
}

function script(path: string, reply: FakeReply | ((body: unknown) => FakeReply)): void {
  agent.on(path, typeof reply === 'function' ? reply : () => reply);
}

function lastRequest(path: string): unknown {
  return agent.requests.filter((r) => r.path === path).at(-1)?.body;
}

test('VERSION answers without config, env or agent', async () => {
  const cases: Array<[string, string]> = [
    ['{"cniVersion":"0.4.0"}', '0.4.0'],
    ['{"cniVersion":"0.2.0"}', '0.2.0'],
    ['', '1.1.0'],
    ['not json', '1.1.0'],
  ];
  for (const [stdin, version] of cases) {
    const r = await invoke({ CNI_COMMAND: 'VERSION' }, stdin);
    assert.equal(r.code, 0, stdin);
    assert.deepEqual(r.out, { cniVersion: version, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  }
});

test('ADD sends the attachment, pools and pod and prints the result in the config version', async () => {
  script('/v1/allocate', { body: allocation });
  const r = await invoke(
    env('ADD', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_UID=u1;K8S_POD_INFRA_CONTAINER_ID=c1' }),
    netconf({ cniVersion: '0.3.1' }, { ipv4Pools: ['blue'], ipv6Pools: ['blue6'] }),
  );
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.out, {
    cniVersion: '0.3.1',
    ips: [{ version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1' }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
    dns: {},
  });
  assert.equal(r.stderr, '');
  assert.deepEqual(lastRequest('/v1/allocate'), {
    containerId: 'c1',
    ifname: 'eth0',
    netns: '/proc/1/ns/net',
    network: 'underlay',
    ipv4Pools: ['blue'],
    ipv6Pools: ['blue6'],
    pod: { namespace: 'prod', name: 'web-0', uid: 'u1' },
  });

  const v1 = await invoke(env('ADD'), netconf({ cniVersion: '1.0.0' }));
  assert.deepEqual(v1.out, { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }], routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }], dns: {} });
  // Without pools or CNI_ARGS the request leaves them out, so the agent picks its default pool.
  assert.deepEqual(lastRequest('/v1/allocate'), { containerId: 'c1', ifname: 'eth0', netns: '/proc/1/ns/net', network: 'underlay' });
});

test('ADD passes agent errors through with their CNI code, message and details', async () => {
  const cases: Array<[FakeReply, number, string, string]> = [
    [{ status: 409, body: { error: { code: 'POOL_EXHAUSTED', message: 'pool blue has no free IP', details: { pool: 'blue' } } } }, 100, 'pool blue has no free IP', 'POOL_EXHAUSTED {"pool":"blue"}'],
    [{ status: 404, body: { error: { code: 'POOL_NOT_FOUND', message: 'no pool named red' } } }, 101, 'no pool named red', 'POOL_NOT_FOUND'],
    [{ status: 503, body: { error: { code: 'STORE_BUSY', message: 'store busy' } } }, 11, 'store busy', 'STORE_BUSY'],
    [{ status: 500, body: { error: { code: 'SOMETHING_NEW', message: 'new failure' } } }, 999, 'new failure', 'INTERNAL {"agentCode":"SOMETHING_NEW"}'],
    [{ body: { ips: 'nope' } }, 5, "the agent's answer to /v1/allocate does not have the expected shape", 'IO_FAILURE {"path":"/v1/allocate"}'],
  ];
  for (const [reply, code, msg, details] of cases) {
    script('/v1/allocate', reply);
    const r = await invoke(env('ADD'), netconf({ cniVersion: '0.4.0' }));
    assert.equal(r.code, 1, msg);
    assert.deepEqual(r.out, { cniVersion: '0.4.0', code, msg, details });
  }
});

test('ADD with the agent unreachable fails with code 11 naming the socket', async () => {
  const r = await invoke(env('ADD'), netconf({}, { socket: missingSocket }));
  assert.equal(r.code, 1);
  assert.equal(r.out?.['code'], 11);
  assert.match(String(r.out?.['msg']), new RegExp(`not reachable at ${missingSocket.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(ENOENT\\)`));
  assert.equal(r.out?.['cniVersion'], '1.1.0');
});

test('ADD times out after ipam.timeoutMs', async () => {
  script('/v1/allocate', { delayMs: 400, body: allocation });
  const started = Date.now();
  const r = await invoke(env('ADD'), netconf({}, { timeoutMs: 100 }));
  assert.equal(r.code, 1);
  assert.equal(r.out?.['code'], 5);
  assert.match(String(r.out?.['msg']), /did not answer within 100 ms/);
  assert.ok(Date.now() - started < 380, 'returned before the agent answered');
});

test('DEL releases, prints nothing, and repeats harmlessly', async () => {
  let held = true;
  script('/v1/release', () => {
    const released = held ? [{ pool: 'blue', ip: '10.1.0.5', containerId: 'c1', ifname: 'eth0', reason: 'cni-del' }] : [];
    held = false;
    return { body: { released } };
  });
  for (let i = 0; i < 2; i++) {
    const r = await invoke(env('DEL', { CNI_NETNS: '' }), netconf({ cniVersion: '0.3.0' }));
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', ''], `DEL #${i + 1}`);
    assert.deepEqual(lastRequest('/v1/release'), { containerId: 'c1', ifname: 'eth0' });
  }
  // An agent that reports the container unknown still means "nothing to release".
  script('/v1/release', { status: 404, body: { error: { code: 'UNKNOWN_CONTAINER', message: 'none' } } });
  assert.equal((await invoke(env('DEL'), netconf())).code, 0);
});

test('DEL with the agent unreachable succeeds with a warning unless ipam.strictDel', async () => {
  const lenient = await invoke(env('DEL'), netconf({}, { socket: missingSocket }));
  assert.equal(lenient.code, 0);
  assert.equal(lenient.stdout, '');
  assert.match(lenient.stderr, /^tidepool: warning: DEL c1\/eth0 not released now: .*not reachable at .*nobody\.sock.*garbage collection will reclaim it\n$/);

  const strict = await invoke(env('DEL'), netconf({}, { socket: missingSocket, strictDel: true }));
  assert.equal(strict.code, 1);
  assert.equal(strict.out?.['code'], 11);

  // Other agent failures are not swallowed: the runtime must retry them.
  script('/v1/release', { status: 503, body: { error: { code: 'STORE_BUSY', message: 'busy' } } });
  const busy = await invoke(env('DEL'), netconf());
  assert.deepEqual([busy.code, busy.out?.['code']], [1, 11]);
});

test('an agent that closes the connection without answering: ADD and DEL fail with code 11 so the runtime retries, STATUS says not ready', async () => {
  for (const path of ['/v1/allocate', '/v1/release', '/v1/status']) script(path, { raw: '' });
  try {
    const message = `the tidepool agent at ${agent.socket} closed the connection without answering (it is probably restarting); try again`;
    const add = await invoke(env('ADD'), netconf());
    assert.deepEqual([add.code, add.out], [1, { cniVersion: '1.1.0', code: 11, msg: message, details: `AGENT_STOPPING ${JSON.stringify({ socket: agent.socket })}` }]);
    // Not the lenient "unreachable" DEL: the agent may have been part-way through the release.
    const del = await invoke(env('DEL'), netconf());
    assert.deepEqual([del.code, del.out?.['code'], del.stderr], [1, 11, '']);
    const status = await invoke({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, netconf());
    assert.deepEqual([status.code, status.out?.['code'], status.out?.['msg']], [1, 50, message]);
  } finally {
    script('/v1/allocate', { body: allocation });
    script('/v1/release', { body: { released: [] } });
  }
});

test('DEL still validates the config and the environment', async () => {
  const bad = await invoke(env('DEL'), netconf({}, { socket: 'relative.sock' }));
  assert.deepEqual(bad.out, { cniVersion: '1.1.0', code: 7, msg: 'ipam.socket must be an absolute path', details: 'INVALID_CONFIG {"field":"ipam.socket"}' });
  const noId = await invoke(env('DEL', { CNI_CONTAINERID: undefined }), netconf());
  assert.equal(noId.out?.['code'], 4);
});

test('CHECK succeeds silently, reports unknown containers as 3 and compares prevResult', async () => {
  script('/v1/check', { body: allocation });
  const ok = await invoke(env('CHECK'), netconf({ cniVersion: '1.0.0', prevResult: { cniVersion: '1.0.0', ips: [{ address: '10.1.0.5/24' }] } }));
  assert.deepEqual([ok.code, ok.stdout], [0, '']);
  assert.deepEqual(lastRequest('/v1/check'), { containerId: 'c1', ifname: 'eth0' });

  const noPrev = await invoke(env('CHECK'), netconf({ cniVersion: '0.4.0' }));
  assert.equal(noPrev.code, 0);

  const drift = await invoke(env('CHECK'), netconf({ prevResult: { ips: [{ address: '10.1.0.9/24' }] } }));
  assert.equal(drift.out?.['code'], 7);
  assert.equal(drift.out?.['msg'], 'prevResult.ips does not list 10.1.0.5/24, which tidepool holds for c1/eth0 in pool blue');

  script('/v1/check', { status: 404, body: { error: { code: 'UNKNOWN_CONTAINER', message: 'no allocation for c1/eth0' } } });
  const unknown = await invoke(env('CHECK'), netconf());
  assert.deepEqual(unknown.out, { cniVersion: '1.1.0', code: 3, msg: 'no allocation for c1/eth0', details: 'UNKNOWN_CONTAINER' });
});

test('verbs the config version does not define fail with code 1', async () => {
  const cases: Array<[string, string]> = [
    ['CHECK', '0.3.1'],
    ['CHECK', '0.3.0'],
    ['STATUS', '1.0.0'],
    ['GC', '0.4.0'],
  ];
  for (const [verb, version] of cases) {
    const r = await invoke(env(verb), netconf({ cniVersion: version, 'cni.dev/valid-attachments': [] }));
    assert.equal(r.code, 1);
    assert.equal(r.out?.['code'], 1, `${verb} ${version}`);
    assert.equal(r.out?.['cniVersion'], version);
    assert.match(String(r.out?.['msg']), new RegExp(`does not define ${verb}`));
  }
  const old = await invoke(env('ADD'), netconf({ cniVersion: '0.2.0' }));
  assert.deepEqual([old.out?.['code'], old.out?.['cniVersion']], [1, '1.1.0']);
});

function pool(name: string, family: 4 | 6, free: string, over: Partial<PoolStatus> = {}): PoolStatus {
  return { name, family, subnet: family === 4 ? '10.0.0.0/24' : 'fd00::/64', total: '254', allocated: 0, free, disabled: false, default: false, ...over };
}

test('STATUS: 0 when usable, 50 when unreachable, not ready or the pools are full', async () => {
  const status = (reply: StatusResponse) => script('/v1/status', { body: reply });
  const conf = netconf({}, { ipv4Pools: ['blue', 'green'] });

  status({ ready: true, pools: [pool('blue', 4, '0'), pool('green', 4, '3'), pool('red', 4, '0')] });
  const ok = await invoke({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, conf);
  assert.deepEqual([ok.code, ok.stdout], [0, '']);
  assert.deepEqual(lastRequest('/v1/status'), { ipv4Pools: ['blue', 'green'] });

  status({ ready: true, pools: [pool('blue', 4, '0'), pool('green', 4, '12', { disabled: true })] });
  const full = await invoke({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, conf);
  assert.deepEqual(full.out, { cniVersion: '1.1.0', code: 50, msg: 'no free IP in pools blue, green', details: 'POOLS_EXHAUSTED {"pools":["blue","green"]}' });

  status({ ready: false, pools: [] });
  const notReady = await invoke({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, conf);
  assert.equal(notReady.out?.['code'], 50);
  assert.match(String(notReady.out?.['msg']), /is not ready/);

  const gone = await invoke({ CNI_COMMAND: 'STATUS', CNI_PATH: '/usr/lib/cni' }, netconf({}, { socket: missingSocket }));
  assert.equal(gone.out?.['code'], 50);
  assert.ok(String(gone.out?.['msg']).includes(missingSocket));

  const noPath = await invoke({ CNI_COMMAND: 'STATUS' }, conf);
  assert.equal(noPath.out?.['code'], 4);
});

test('planExhaustedPools: a family is exhausted when all its relevant pools are full or disabled', () => {
  const pools = [pool('a', 4, '0'), pool('b', 4, '5'), pool('a6', 6, '0', { default: true }), pool('d4', 4, '0', { default: true })];
  assert.deepEqual(planExhaustedPools(pools, { ipv4Pools: ['a', 'b'] }), []);
  assert.deepEqual(planExhaustedPools(pools, { ipv4Pools: ['a'] }).map((p) => p.name), ['a']);
  // Dual stack fails ADD when either family is full.
  assert.deepEqual(planExhaustedPools(pools, { ipv4Pools: ['b'], ipv6Pools: ['a6'] }).map((p) => p.name), ['a6']);
  // Without listed pools the agent's defaults are what ADD would use.
  assert.deepEqual(planExhaustedPools(pools, {}).map((p) => p.name), ['d4', 'a6']);
  assert.deepEqual(planExhaustedPools([pool('x', 4, '340282366920938463463374607431768211456')], { ipv4Pools: ['x'] }), []);
  assert.deepEqual(planExhaustedPools([], { ipv4Pools: ['x'] }), []);
});

test('GC sends the valid attachments and prints nothing', async () => {
  script('/v1/gc', { body: { released: [{ pool: 'blue', ip: '10.1.0.7', containerId: 'old', ifname: 'eth0', reason: 'cni-gc' }] } });
  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' };
  const r = await invoke(gcEnv, netconf({ 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'net1' }] }));
  assert.deepEqual([r.code, r.stdout], [0, '']);
  assert.deepEqual(lastRequest('/v1/gc'), { network: 'underlay', validAttachments: [{ containerId: 'c1', ifname: 'eth0' }, { containerId: 'c2', ifname: 'net1' }] });

  await invoke(gcEnv, netconf({ 'cni.dev/attachments': [{ containerID: 'c3', ifname: 'eth0' }] }));
  assert.deepEqual(lastRequest('/v1/gc'), { network: 'underlay', validAttachments: [{ containerId: 'c3', ifname: 'eth0' }] });

  const before = agent.requests.length;
  const missing = await invoke(gcEnv, netconf());
  assert.equal(missing.out?.['code'], 7);
  assert.equal(agent.requests.length, before, 'no GC request without a keep-list');

  const gone = await invoke(gcEnv, netconf({ 'cni.dev/valid-attachments': [] }, { socket: missingSocket }));
  assert.equal(gone.out?.['code'], 11);
});

test('bad input: env errors are 4, JSON errors 6, config errors 7, with the config version when known', async () => {
  const cases: Array<[string, Env, StdinSource, number, string, RegExp]> = [
    ['no command', { CNI_PATH: '/x' }, netconf({ cniVersion: '0.4.0' }), 4, '0.4.0', /^CNI_COMMAND is required$/],
    ['unknown command', { CNI_COMMAND: 'UPGRADE' }, netconf(), 4, '1.1.0', /"UPGRADE" is not one of/],
    ['no netns', env('ADD', { CNI_NETNS: undefined }), netconf({ cniVersion: '1.0.0' }), 4, '1.0.0', /^CNI_NETNS is required for ADD$/],
    ['empty stdin', env('ADD'), '', 6, '1.1.0', /is empty/],
    ['bad JSON', env('ADD'), '{"cniVersion":"1.0.0",', 6, '1.1.0', /not valid JSON/],
    ['bad UTF-8', env('ADD'), Buffer.from([0x7b, 0xff, 0x7d]), 6, '1.1.0', /not valid UTF-8/],
    ['unknown ipam field', env('ADD'), netconf({ cniVersion: '0.3.1' }, { foo: 1 }), 7, '0.3.1', /^ipam\.foo is not a known field$/],
    ['pool entry', env('ADD'), netconf({}, { ipv4Pools: ['a', ''] }), 7, '1.1.0', /^ipam\.ipv4Pools\[1\] must be a non-empty string$/],
  ];
  for (const [name, e, stdin, code, version, msg] of cases) {
    const r = await invoke(e, stdin);
    assert.equal(r.code, 1, name);
    assert.equal(r.out?.['code'], code, name);
    assert.equal(r.out?.['cniVersion'], version, name);
    assert.match(String(r.out?.['msg']), msg, name);
  }
});

test('stdin above 1 MiB is refused with code 6 without reading it all', async () => {
  let produced = 0;
  async function* endless(): AsyncGenerator<Uint8Array> {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    for (;;) {
      produced += chunk.length;
      yield chunk;
    }
  }
  const r = await invoke(env('ADD'), endless());
  assert.equal(r.out?.['code'], 6);
  assert.equal(r.out?.['msg'], `the network configuration on stdin exceeds ${STDIN_LIMIT} bytes`);
  assert.ok(produced <= STDIN_LIMIT + 64 * 1024);

  // Exactly the limit is accepted (padding after the JSON is whitespace).
  const padded = netconf() + ' '.repeat(STDIN_LIMIT - Buffer.byteLength(netconf()));
  assert.equal((await readInput(padded)).length, STDIN_LIMIT);
  await assert.rejects(readInput(padded + ' '), /exceeds/);
  await assert.rejects(readInput(Buffer.alloc(STDIN_LIMIT + 1)), /exceeds/);
  assert.equal(await readInput([Buffer.from('{"a"'), Buffer.from(':1}')]), '{"a":1}');
});
