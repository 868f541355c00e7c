// `tidepool pools` and `tidepool pools validate` against an in-process
// standalone agent whose pools file is edited under it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '../store/memory.ts';
import { createIpamService, type IpamService } from '../agent/ipam-service.ts';
import { startAgentServer, type AgentServer } from '../agent/http-server.ts';
import { noMetrics } from '../agent/metrics.ts';
import { createStandalonePolicy } from '../agent/policy.ts';
import { openPoolFileState, type PoolFileState } from '../agent/pool-file-state.ts';
import { silentLogger } from '../util/logger.ts';
import { runCli } from './main.ts';

const poolYaml = (name: string, ips: string, subnet = '10.5.0.0/24') => `apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata: {name: ${name}}\nspec: {subnet: ${subnet}, ips: ["${ips}"]}\n`;
const NOW = Date.parse('2026-12-05T10:00:00Z');

describe('tidepool pools against a standalone agent whose pools file changes', () => {
  let dir: string;
  let socket: string;
  let server: AgentServer;
  let service: IpamService;
  let poolsFile: PoolFileState;
  let fileText = poolYaml('lan', '10.5.0.10-10.5.0.19') + '---\n' + poolYaml('old', '10.6.0.10-10.6.0.11', '10.6.0.0/24');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-cli-pools-'));
    socket = join(dir, 'agent.sock');
    const store = createMemoryStore();
    let remembered: string | undefined;
    poolsFile = await openPoolFileState({
      path: '/etc/tidepool/pools.yaml',
      read: () => fileText,
      memory: { read: async () => remembered, write: async (t) => void (remembered = t) },
      held: () => store.list(),
      now: () => NOW,
      log: silentLogger,
    });
    service = createIpamService({ store, policy: createStandalonePolicy(() => poolsFile.pools()), node: 'n', now: () => NOW, probeNetns: () => ({ exists: true }) });
    const status = async () => ({ ...(await service.status()), poolsFile: poolsFile.status() });
    server = await startAgentServer({ socketPath: socket, service, metrics: noMetrics, log: silentLogger, status, poolsFile });
    for (let i = 0; i < 8; i++) await service.allocate({ containerId: `p${i}`, ifname: 'eth0', netns: '', ipv4Pools: ['lan'] });
    await service.allocate({ containerId: 'o1', ifname: 'eth0', netns: '', ipv4Pools: ['old'] });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function cli(...argv: string[]) {
    let out = '';
    let err = '';
    const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t), env: { TIDEPOOL_SOCKET: socket }, now: () => NOW });
    return { code, out, err };
  }
  function edit(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  test('validate: a rename re-files held IPs, a shrink orphans them (--strict fails on that), a broken file is refused; nothing changes', async () => {
    const renamed = edit('renamed.yaml', poolYaml('lan', '10.5.0.10-10.5.0.19') + '---\n' + poolYaml('old2', '10.6.0.10-10.6.0.11', '10.6.0.0/24'));
    const res = await cli('pools', 'validate', renamed);
    assert.deepEqual([res.code, res.err], [0, '']);
    assert.equal(
      res.out,
      `${renamed}: valid: 2 pools (lan, old2)\nApplying it would:\n  add old2; remove old\n  re-file 1 held IP under the pool whose range holds it (the holders keep them):\n    old -> old2: 10.6.0.10\n`,
    );

    const shrunk = edit('shrunk.yaml', poolYaml('lan', '10.5.0.10-10.5.0.14') + '---\n' + poolYaml('old', '10.6.0.10-10.6.0.11', '10.6.0.0/24'));
    const warn = await cli('pools', 'validate', shrunk);
    assert.equal(warn.code, 0);
    assert.match(warn.out, /change lan\n  leave 3 held IPs in no pool \(warning: they stay held until DEL or the collector frees them\):\n    lan \(outside the pool's ranges\): 10\.5\.0\.15, 10\.5\.0\.16, 10\.5\.0\.17\n$/);
    assert.equal((await cli('pools', 'validate', '--strict', shrunk)).code, 1);

    const broken = edit('broken.yaml', poolYaml('lan', '10.5.0.10-10.5.0.19') + '---\n' + poolYaml('lan2', '10.5.0.15-10.5.0.30'));
    const refused = await cli('pools', 'validate', broken);
    assert.equal(refused.code, 1);
    assert.equal(refused.out, `${broken}: refused: ${broken}: pools "lan" and "lan2" overlap: both hold 10.5.0.15-10.5.0.19 (POOL_OVERLAP)\n`);
    const json = JSON.parse((await cli('pools', 'validate', '--json', broken)).out);
    assert.deepEqual([json.valid, json.error.code, json.checkedAgainstAgent], [false, 'POOL_OVERLAP', true]);

    assert.deepEqual(poolsFile.pools().map((p) => p.name), ['lan', 'old'], 'validating changes nothing');
    const missing = await cli('pools', 'validate', join(dir, 'nope.yaml'));
    assert.deepEqual([missing.code, missing.err], [2, `tidepool: ${join(dir, 'nope.yaml')}: no such file (INVALID_CONFIG)\n`]);
  });

  test('validate without an agent checks the file alone and says so', async () => {
    const file = edit('alone.yaml', poolYaml('lan', '10.5.0.10-10.5.0.19'));
    let out = '';
    const code = await runCli(['pools', 'validate', file], { out: (t) => (out += t), err: () => {}, env: { TIDEPOOL_SOCKET: join(dir, 'nobody.sock') }, now: () => NOW });
    assert.equal(code, 0);
    assert.match(out, /^.*alone\.yaml: valid: 1 pool \(lan\)\nNo agent answers at .*nobody\.sock: checked the file alone/);
  });

  test('pools: orphaned IPs below the table, and the refused edit with what is served instead', async () => {
    fileText = poolYaml('lan', '10.5.0.10-10.5.0.14');
    assert.equal((await poolsFile.reload('test')).result, 'applied');
    await service.reconcile();
    fileText = 'apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata: {name: lan}\nspec: {subnet: 10.5.0.0/24, ipz: []}\n';
    assert.equal((await poolsFile.reload('test')).result, 'refused');
    const res = await cli('pools');
    assert.equal(res.code, 0);
    assert.equal(
      res.out,
      [
        'POOL  SUBNET       TOTAL  ALLOCATED  FREE  USED    FLAGS',
        'lan   10.5.0.0/24  5      5          0     100.0%',
        '',
        'Orphaned: 4 held IPs are in no pool of the pools file; DEL and the collector free them as usual.',
        'POOL  REASON                            IPS',
        "lan   outside the pool's ranges         10.5.0.15, 10.5.0.16, 10.5.0.17",
        'old   pool removed from the pools file  10.6.0.10',
        '',
        'Warning: the pools file /etc/tidepool/pools.yaml holds an edit the agent refused at 2026-12-05T10:00:00.000Z: /etc/tidepool/pools.yaml: pool "lan": spec.ipz is not a known field (INVALID_POOL).',
        'The agent serves the pools applied at 2026-12-05T10:00:00.000Z. Check an edit with: tidepool pools validate /etc/tidepool/pools.yaml',
        '',
      ].join('\n'),
    );
    const allocations = await cli('allocations');
    assert.match(allocations.out, /^10\.5\.0\.15 +lan \(orphaned\) +p5 /m);
    assert.match(allocations.out, /^10\.5\.0\.10 +lan +p0 /m);
  });

  test('an agent without a pools file (Kubernetes mode) says validation is not its job', async () => {
    const other = join(dir, 'k8s.sock');
    const plain = await startAgentServer({ socketPath: other, service, metrics: noMetrics, log: silentLogger });
    try {
      let err = '';
      const code = await runCli(['pools', 'validate', edit('x.yaml', poolYaml('lan', '10.5.0.10'))], { out: () => {}, err: (t) => (err += t), env: { TIDEPOOL_SOCKET: other }, now: () => NOW });
      assert.equal(code, 1);
      assert.match(err, /this agent has no pools file: in a cluster, pools are IPPool objects and the admission webhook checks them \(NOT_FOUND\)/);
    } finally {
      await plain.close();
    }
  });
});
