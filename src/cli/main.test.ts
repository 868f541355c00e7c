import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planPools } from '../ipam/pool.ts';
import { createMemoryStore } from '../store/memory.ts';
import { createIpamService, type IpamService } from '../agent/ipam-service.ts';
import { startAgentServer, type AgentServer } from '../agent/http-server.ts';
import { noMetrics } from '../agent/metrics.ts';
import { silentLogger } from '../util/logger.ts';
import { runCli } from './main.ts';
import { formatTable } from './table.ts';

describe('tidepool CLI against an in-process agent', () => {
  let dir: string;
  let socket: string;
  let server: AgentServer;
  let service: IpamService;
  const NOW = 1_700_000_000_000;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidepool-cli-'));
    socket = join(dir, 'agent.sock');
    const pools = planPools([{ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.5.0.0/29', default: true } }]);
    service = createIpamService({ store: createMemoryStore(), pools, node: 'n', now: () => NOW - 90_000, probeNetns: (p) => ({ exists: true, id: `4:${p}`, isNamespace: true }) });
    server = await startAgentServer({ socketPath: socket, service, metrics: noMetrics, log: silentLogger });
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

  test('allocations: says so when there are none, then lists with age', async () => {
    assert.deepEqual(await cli('allocations'), { code: 0, out: 'no allocations\n', err: '' });
    await service.allocate({ containerId: 'c1', ifname: 'eth0', netns: '/run/netns/c1' });
    const res = await cli('allocations');
    assert.equal(res.out, 'IP        POOL  CONTAINER  INTERFACE  NETNS          AGE\n10.5.0.1  lan   c1         eth0       /run/netns/c1  1m30s\n');
  });

  test('pools --json prints the pools, the orphaned IPs and the pools file', async () => {
    const res = await cli('pools', '--json');
    assert.equal(res.code, 0);
    assert.deepEqual(JSON.parse(res.out), { pools: [{ name: 'lan', family: 4, subnet: '10.5.0.0/29', total: '6', allocated: 1, free: '5', disabled: false, default: true }], orphaned: [] });
  });

  test('usage errors exit 2 with a precise message', async () => {
    assert.match((await cli('frobnicate')).err, /unknown command "frobnicate"/);
    assert.equal((await cli('frobnicate')).code, 2);
    const noIp = await cli('release');
    assert.deepEqual([noIp.code, noIp.err], [2, 'tidepool: release needs the IP to release, e.g. tidepool release 10.6.0.12 (INVALID_CONFIG)\n']);
    const extra = await cli('pools', 'extra');
    assert.equal(extra.code, 2);
    assert.match(extra.err, /Unexpected argument 'extra'|unexpected argument "extra"/);
    const daemon = await cli('daemon', '--state', '/tmp/x.db');
    assert.deepEqual([daemon.code, daemon.err], [2, 'tidepool: --pools is required: the file that defines the IP pools (INVALID_CONFIG)\n']);
    const dur = await cli('daemon', '--pools', 'p.yaml', '--gc-grace', '10 seconds');
    assert.match(dur.err, /--gc-grace: "10 seconds" is not a duration/);
  });

  test('formatTable pads every column to its widest cell', () => {
    assert.equal(formatTable(['A', 'BB'], [['xxx', 'y'], ['z', '']]), 'A    BB\nxxx  y\nz\n');
  });
});
