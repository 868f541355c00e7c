// Editing and renaming pools under a real standalone agent process: the
// address a live pod holds is never handed out again, edits apply live, and a
// broken edit never takes the node's ADDs down.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { poolYaml, removeDir, runCli, startAgent, type AgentProcess } from './helpers/agent-process.ts';

const dirs: string[] = [];
const agents: AgentProcess[] = [];
after(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  for (const d of dirs) removeDir(d);
});

function newDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-poolsfile-'));
  dirs.push(dir);
  return dir;
}

async function start(dir: string, pools: string, args: string[] = []): Promise<AgentProcess> {
  const agent = await startAgent({ pools, dir, args: ['--gc-interval', '1h', ...args] });
  agents.push(agent);
  return agent;
}

/** Polls `check` until it returns a value, for up to a minute; the failure names what was awaited and the agent's log. */
async function eventually<T>(what: string, agent: AgentProcess, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; agent log:\n${agent.logs.join('\n')}`);
    await delay(100);
  }
}

const allocate = (agent: AgentProcess, containerId: string, pool: string) => agent.call('POST', '/v1/allocate', { containerId, ifname: 'eth0', netns: '', ipv4Pools: [pool] });
const ipOf = (res: { body: { ips: Array<{ address: string }> } }) => res.body.ips[0]!.address.split('/')[0]!;

function metricsText(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`http://${address}/metrics`, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

describe('standalone agent: pools file edits', () => {
  test('a pool renamed with the same range keeps its allocations across a restart; no address is held twice', async () => {
    const dir = newDir();
    const range = { subnet: '10.250.6.0/24', ips: ['10.250.6.10-10.250.6.20'] };
    let agent = await start(dir, poolYaml('pool-b', range));
    const held = new Map<string, string>();
    for (let i = 1; i <= 5; i++) {
      const res = await allocate(agent, `long-b${i}`, 'pool-b');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      held.set(ipOf(res), `long-b${i}`);
    }
    assert.equal(await agent.stop('SIGTERM'), 0);

    agent = await start(dir, poolYaml('pool-c', range));
    for (let i = 1; i <= 6; i++) {
      const res = await allocate(agent, `long-c${i}`, 'pool-c');
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(held.has(ipOf(res)), false, `${ipOf(res)} was handed out while ${held.get(ipOf(res))} holds it`);
    }
    const full = await allocate(agent, 'long-c7', 'pool-c');
    assert.equal(full.body.error?.code, 'POOL_EXHAUSTED', 'the 11 addresses are all held: 5 by pool-b\'s pods, 6 new');
    assert.ok(agent.logs.some((l) => /held IPs re-filed under the pool whose range holds them now/.test(l)), agent.logs.join('\n'));

    const pools = await runCli(['pools', '--json', '--socket', agent.socket]);
    assert.deepEqual(JSON.parse(pools.stdout).pools.map((p: { name: string; allocated: number }) => [p.name, p.allocated]), [['pool-c', 11]]);
    const list = await agent.call('GET', '/v1/allocations');
    assert.deepEqual(list.body.filter((a: { containerId: string }) => a.containerId.startsWith('long-b')).map((a: { pool: string }) => a.pool), Array(5).fill('pool-c'));
    const db = new Database(agent.state, { readonly: true, fileMustExist: true });
    try {
      assert.deepEqual(db.prepare('SELECT ip, count(*) AS n FROM allocations GROUP BY ip HAVING n > 1').all(), []);
    } finally {
      db.close();
    }
  });

  test('an edit applies live; a broken edit is refused with the error in the log, a metric and tidepool pools, while the pools it had are served', async () => {
    const dir = newDir();
    const lan = poolYaml('lan', { subnet: '10.41.0.0/24', ips: ['10.41.0.10-10.41.0.20'] });
    const agent = await start(dir, lan, ['--pools-reload-interval', '200ms', '--metrics-listen', '127.0.0.1:0']);
    const metrics = JSON.parse(agent.logs.find((l) => l.includes('tidepool agent started'))!).metrics as string;
    const poolNames = async () => ((await agent.call('GET', '/v1/status')).body.pools as Array<{ name: string }>).map((p) => p.name);

    writeFileSync(agent.poolsFile, `${lan}---\n${poolYaml('extra', { subnet: '10.42.0.0/24', ips: ['10.42.0.10-10.42.0.20'] })}`);
    await eventually('the added pool to be served', agent, async () => ((await poolNames()).includes('extra') ? true : undefined));
    assert.equal((await allocate(agent, 'e1', 'extra')).status, 200);

    writeFileSync(agent.poolsFile, `${lan}---\n${poolYaml('extra', { subnet: '10.42.0.0/24', ips: ['10.41.0.15-10.41.0.30'] })}`);
    const refused = await eventually('the broken edit to be refused', agent, async () => (await agent.call('GET', '/v1/status')).body.poolsFile.refused);
    assert.equal(refused.code, 'INVALID_POOL');
    assert.match(refused.message, /spec\.ips\[0\] "10\.41\.0\.15-10\.41\.0\.30" is outside subnet 10\.42\.0\.0\/24/);
    assert.ok(agent.logs.some((l) => l.includes('"level":"error"') && l.includes('pools file edit refused') && l.includes('is outside subnet')), agent.logs.join('\n'));
    assert.match(await metricsText(metrics), /^tidepool_pools_file_refused 1$/m);
    assert.match(await metricsText(metrics), /^tidepool_pools_file_reloads_total\{result="refused"\} 1$/m);
    assert.deepEqual(await poolNames(), ['lan', 'extra'], 'the pools it had are still served');
    assert.equal((await allocate(agent, 'l1', 'lan')).status, 200);
    assert.equal((await allocate(agent, 'e2', 'extra')).status, 200);
    const shown = await runCli(['pools', '--socket', agent.socket]);
    assert.match(shown.stdout, /Warning: the pools file .*pools\.yaml holds an edit the agent refused at .*is outside subnet 10\.42\.0\.0\/24 \(INVALID_POOL\)\./);

    writeFileSync(agent.poolsFile, lan);
    await eventually('the fixed edit to be applied', agent, async () => ((await poolNames()).join() === 'lan' ? true : undefined));
    assert.match(await metricsText(metrics), /^tidepool_pools_file_refused 0$/m);
    const status = (await agent.call('GET', '/v1/status')).body;
    assert.equal(status.poolsFile.refused, undefined);
    assert.deepEqual(status.orphaned, [{ pool: 'extra', reason: 'pool-removed', ips: ['10.42.0.10', '10.42.0.11'] }], 'the removed pool\'s held IPs are listed as orphans');
  });

  test('with polling off, SIGHUP reloads', async () => {
    const dir = newDir();
    const agent = await start(dir, poolYaml('lan', { subnet: '10.43.0.0/24' }), ['--pools-reload-interval', '0s']);
    writeFileSync(agent.poolsFile, poolYaml('lan', { subnet: '10.43.0.0/24' }) + '---\n' + poolYaml('hup', { subnet: '10.44.0.0/24' }));
    agent.proc.kill('SIGHUP');
    await eventually('the edit to be applied after SIGHUP', agent, async () => (agent.logs.some((l) => l.includes('pools file applied') && l.includes('SIGHUP')) ? true : undefined));
    assert.equal((await allocate(agent, 'h1', 'hup')).status, 200);
  });

  test('an agent whose pools file is broken at start serves the pools last applied; one that never applied a file refuses to start', async () => {
    const dir = newDir();
    const good = poolYaml('lan', { subnet: '10.45.0.0/24', ips: ['10.45.0.10-10.45.0.20'] });
    const broken = 'apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata: {name: lan}\nspec: {subnet: 10.45.0.0/24, ips: 10.45.0.10}\n';
    let agent = await start(dir, good);
    assert.equal((await allocate(agent, 'a1', 'lan')).status, 200);
    await agent.stop('SIGTERM');

    agent = await start(dir, broken);
    assert.ok(agent.logs.some((l) => l.includes('the pools file cannot be used; serving the pools last applied from it')), agent.logs.join('\n'));
    const status = (await agent.call('GET', '/v1/status')).body;
    assert.deepEqual([status.poolsFile.source, status.poolsFile.refused.code], ['last-applied', 'INVALID_POOL']);
    assert.equal((await allocate(agent, 'a2', 'lan')).status, 200);
    const shown = await runCli(['pools', '--socket', agent.socket]);
    assert.match(shown.stdout, /could not be used when the agent started .*spec\.ips must be a list/);
    await agent.stop('SIGTERM');

    await assert.rejects(start(newDir(), broken), /spec\.ips must be a list of IPs or a-b ranges/);
  });
});
