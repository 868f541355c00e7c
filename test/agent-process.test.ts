// The agent as a real process on a real unix socket with a real SQLite file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from 'node:net';
import { startAgent, runCli, poolYaml, removeDir, waitForMetricsAddress, PLUGIN_DIR, type AgentProcess } from './helpers/agent-process.ts';
import { execPlugin, ip as iproute, ipQuiet } from './helpers/netns.ts';

const POOLS = poolYaml('lan', { subnet: '10.20.0.0/24', ips: ['10.20.0.10-10.20.0.12'], gateway: '10.20.0.1' }) + '---\n' + poolYaml('lan6', { subnet: 'fd20::/64', ips: ['fd20::10-fd20::1f'] });

// Real network namespaces (we are root), tagged with the pid so parallel runs never collide.
const tag = (process.pid % 10000).toString(36);
const nsName = (n: string) => `tp-${tag}-${n}`;

describe('agent process', () => {
  let agent: AgentProcess;
  let netnsDir: string;
  const namespaces: string[] = [];
  const addNs = (n: string) => {
    const name = nsName(n);
    iproute('netns', 'add', name);
    namespaces.push(name);
    return `/var/run/netns/${name}`;
  };
  before(async () => {
    assert.equal(process.getuid?.(), 0, 'needs root for network namespaces');
    agent = await startAgent({ pools: POOLS, args: ['--gc-interval', '1h'] });
    netnsDir = mkdtempSync(join(tmpdir(), 'tidepool-agent-test-'));
  });
  after(async () => {
    for (const n of namespaces) ipQuiet('netns', 'del', n);
    await agent.cleanup();
    removeDir(netnsDir);
  });

  test('the socket is created with mode 0600', () => {
    const st = statSync(agent.socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('allocate, check and release over the socket', async () => {
    const req = { containerId: 'p1', ifname: 'eth0', netns: addNs('p1'), ipv4Pools: ['lan'], ipv6Pools: ['lan6'] };
    const add = await agent.call('POST', '/v1/allocate', req);
    assert.equal(add.status, 200, JSON.stringify(add.body));
    assert.deepEqual(add.body.ips.map((i: { address: string }) => i.address), ['10.20.0.10/24', 'fd20::10/64']);
    const check = await agent.call('POST', '/v1/check', { containerId: 'p1', ifname: 'eth0' });
    assert.deepEqual(check.body, add.body);
    const del = await agent.call('POST', '/v1/release', { containerId: 'p1', ifname: 'eth0' });
    assert.equal(del.body.released.length, 2);
    const gone = await agent.call('POST', '/v1/check', { containerId: 'p1', ifname: 'eth0' });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'UNKNOWN_CONTAINER');
  });

  const badRequests: Array<[string, string, string, unknown, number, string, RegExp]> = [
    ['malformed JSON', 'POST', '/v1/allocate', '{"containerId": ', 400, 'DECODE_FAILED', /not valid JSON/],
    ['unknown field', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '', ipv4Pools: ['lan'], vlan: 3 }, 400, 'INVALID_REQUEST', /^vlan is not a known field$/],
    ['missing ifname', 'POST', '/v1/allocate', { containerId: 'x', netns: '', ipv4Pools: ['lan'] }, 400, 'INVALID_REQUEST', /^ifname is required$/],
    ['bad container id', 'POST', '/v1/release', { containerId: '../etc', ifname: 'eth0' }, 400, 'INVALID_REQUEST', /^containerId "..\/etc" must start with a letter or digit/],
    ['pool list not an array', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '', ipv4Pools: 'lan' }, 400, 'INVALID_REQUEST', /^ipv4Pools must be an array/],
    ['empty pool name', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '', ipv4Pools: ['lan', ''] }, 400, 'INVALID_REQUEST', /^ipv4Pools\[1\] must be a non-empty string$/],
    ['netns with control characters', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '/x\n\u0001', ipv4Pools: ['lan'] }, 400, 'INVALID_REQUEST', /^netns must not contain control characters$/],
    ['pod name too long', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '', ipv4Pools: ['lan'], pod: { namespace: 'ns', name: 'p'.repeat(300) } }, 400, 'INVALID_REQUEST', /^pod\.name is 300 characters long; at most 253 are allowed$/],
    ['unknown pool', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '', ipv4Pools: ['wan'] }, 404, 'POOL_NOT_FOUND', /pool "wan" does not exist/],
    ['gc without list', 'POST', '/v1/gc', { network: 'n' }, 400, 'INVALID_REQUEST', /^validAttachments is required$/],
    ['gc without network', 'POST', '/v1/gc', { validAttachments: [] }, 400, 'INVALID_REQUEST', /^network is required$/],
    ['gc with bad entry', 'POST', '/v1/gc', { network: 'n', validAttachments: [{ containerId: 'a' }] }, 400, 'INVALID_REQUEST', /^validAttachments\[0\]\.ifname is required$/],
    ['unknown route', 'GET', '/v1/nope', undefined, 404, 'NOT_FOUND', /no route GET \/v1\/nope/],
    ['netns that does not exist', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '/nonexistent/x', ipv4Pools: ['lan'] }, 400, 'INVALID_REQUEST', /^netns: \/nonexistent\/x does not exist$/],
    ['netns that is a plain file', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '/etc/passwd', ipv4Pools: ['lan'], ipv6Pools: ['lan6'] }, 400, 'INVALID_REQUEST', /^netns: \/etc\/passwd is not a network namespace$/],
    ['netns that is a directory', 'POST', '/v1/allocate', { containerId: 'x', ifname: 'eth0', netns: '/var/run', ipv4Pools: ['lan'] }, 400, 'INVALID_REQUEST', /^netns: \/var\/run is not a network namespace$/],
    ['huge body', 'POST', '/v1/allocate', 'x'.repeat(2 << 20), 400, 'INVALID_REQUEST', /larger than/],
  ];
  for (const [name, method, path, body, status, code, message] of badRequests) {
    test(`bad request (${name}) gets ${code} and changes nothing`, async () => {
      await agent.call('POST', '/v1/allocate', { containerId: 'keeper', ifname: 'eth0', netns: '', ipv4Pools: ['lan'] });
      const before = await agent.call('GET', '/v1/allocations');
      const res = await agent.call(method, path, body);
      assert.equal(res.status, status);
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
      assert.deepEqual((await agent.call('GET', '/v1/allocations')).body, before.body);
    });
  }

  test('the plugin with CNI_NETNS=/etc/passwd fails with a CNI error naming the path, and nothing is allocated', async () => {
    const before = (await agent.call('GET', '/v1/allocations')).body;
    const run = await execPlugin(
      join(PLUGIN_DIR, 'tidepool'),
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'passwd', CNI_IFNAME: 'eth0', CNI_NETNS: '/etc/passwd' },
      { cniVersion: '1.0.0', name: 'n', ipam: { type: 'tidepool', socket: agent.socket, ipv4Pools: ['lan'] } },
    );
    assert.equal(run.code, 1);
    assert.equal(run.stderr, '');
    assert.deepEqual(run.json, { cniVersion: '1.0.0', code: 107, msg: 'netns: /etc/passwd is not a network namespace', details: 'INVALID_REQUEST {"field":"netns","netns":"/etc/passwd"}' });
    assert.deepEqual((await agent.call('GET', '/v1/allocations')).body, before);
  });

  test('a known path with a wrong method gets 405 with Allow, changes nothing, and HEAD is served wherever GET is', async () => {
    const before = (await agent.call('GET', '/v1/allocations')).body;
    const wrong: Array<[string, string, string]> = [
      ['GET', '/v1/allocate', 'POST'],
      ['POST', '/healthz', 'GET, HEAD'],
      ['DELETE', '/v1/status', 'GET, HEAD, POST'],
      ['PUT', '/v1/allocations', 'GET, HEAD'],
    ];
    for (const [method, path, allow] of wrong) {
      const res = await agent.call(method, path, method === 'GET' ? undefined : { containerId: 'x', ifname: 'eth0', netns: '' });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers['allow'], allow, `${method} ${path}`);
      assert.deepEqual(res.body, {
        error: { code: 'INVALID_REQUEST', message: `${path} does not serve ${method}; it serves ${allow}`, details: { field: 'method', method, allow: allow.split(', ') } },
      });
    }
    assert.deepEqual((await agent.call('GET', '/v1/allocations')).body, before);
    for (const path of ['/v1/pools', '/v1/allocations', '/v1/status', '/healthz']) {
      const get = await agent.call('GET', path);
      const head = await agent.call('HEAD', path);
      assert.equal(head.status, 200, path);
      assert.equal(head.body, '', `${path}: no body`);
      assert.equal(head.headers['content-type'], 'application/json');
      assert.equal(head.headers['content-length'], String(Buffer.byteLength(JSON.stringify(get.body))), path);
    }
    const unknown = await agent.call('POST', '/v2/allocate', {});
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'NOT_FOUND']);
  });

  test('bytes that are not HTTP get 400 with an INVALID_REQUEST body', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect(agent.socket, () => c.write('HELLO tidepool\r\n\r\n'));
      let text = '';
      c.on('data', (d: Buffer) => (text += d.toString()));
      c.on('close', () => resolve(text));
      c.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'INVALID_REQUEST');
    assert.match(body.error.message, /^malformed HTTP request \(HPE_INVALID_METHOD\)$/);
    assert.equal((await agent.call('GET', '/healthz')).status, 200);
  });

  test('a second agent on the same socket is refused and the first keeps serving', async () => {
    await assert.rejects(startAgent({ pools: POOLS, dir: mkdtempSync(join(tmpdir(), 'tidepool-agent2-')), args: ['--socket', agent.socket] }), /another agent is already serving on/);
    assert.equal((await agent.call('GET', '/healthz')).status, 200);
  });

  test('CLI: pools, allocations, release (refused while the netns exists, then --force) and gc', async () => {
    const netns = addNs('cli1');
    const add = await agent.call('POST', '/v1/allocate', { containerId: 'cli1', ifname: 'eth0', netns, ipv4Pools: ['lan'] });
    const ip = add.body.ips[0].address.split('/')[0];
    const env = { TIDEPOOL_SOCKET: agent.socket };

    const pools = await runCli(['pools'], env);
    assert.equal(pools.code, 0, pools.stderr);
    assert.match(pools.stdout, /^POOL\s+SUBNET\s+TOTAL\s+ALLOCATED\s+FREE\s+USED/);
    assert.match(pools.stdout, /\nlan\s+10\.20\.0\.0\/24\s+3\s+2\s+1\s+66\.7%/);
    assert.match(pools.stdout, /\nlan6\s+fd20::\/64\s+16\s+0\s+16\s+0\.00%/);

    const allocs = await runCli(['allocations'], env);
    assert.match(allocs.stdout, new RegExp(`\\n${ip.replace(/\./g, '\\.')}\\s+lan\\s+cli1\\s+eth0\\s+${netns}\\s+\\d+`));

    const refused = await runCli(['release', ip], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /still exists; use --force .*\(NETNS_IN_USE\)/);

    iproute('netns', 'del', nsName('cli1'));
    const gc = await runCli(['gc', '--no-grace'], env);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, new RegExp(`reclaimed ${ip.replace(/\./g, '\\.')} \\(pool lan, container cli1, interface eth0\\): network namespace gone`));

    const empty = await runCli(['allocations', '--socket', agent.socket]);
    assert.doesNotMatch(empty.stdout, new RegExp(ip.replace(/\./g, '\\.')));

    const missing = await runCli(['release', ip, '--force'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /is not allocated \(NOT_FOUND\)/);
  });

  test('CLI: install-cni copies the plugin executable into the destination', async () => {
    const dest = join(netnsDir, 'opt-cni-bin');
    const res = await runCli(['install-cni', '--dest', dest]);
    assert.equal(res.code, 0, res.stderr);
    const installed = statSync(join(dest, 'tidepool'));
    assert.equal(installed.mode & 0o755, 0o755);
    assert.equal(installed.size, statSync('dist/cni/tidepool').size);
    const missing = await runCli(['install-cni', '--dest', dest, '--source', join(netnsDir, 'nope')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--source .*nope: no such file/);
  });

  test('CLI: unreachable agent and bad flags give precise errors', async () => {
    const down = await runCli(['pools', '--socket', join(netnsDir, 'none.sock')]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the tidepool agent at .*none\.sock.*\(AGENT_UNREACHABLE\)/);
    const bad = await runCli(['pools', '--colour']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown option '--colour'/);
  });
});

describe('agent durability and start-up errors', () => {
  test('an allocation acknowledged over the socket survives SIGKILL of the agent', async () => {
    const agent = await startAgent({ pools: POOLS });
    const add = await agent.call('POST', '/v1/allocate', { containerId: 'durable', ifname: 'eth0', netns: '', ipv4Pools: ['lan'] });
    assert.equal(add.status, 200);
    assert.equal(await agent.stop('SIGKILL'), null);
    const again = await startAgent({ pools: POOLS, dir: agent.dir });
    try {
      const check = await again.call('POST', '/v1/check', { containerId: 'durable', ifname: 'eth0' });
      assert.deepEqual(check.body, add.body);
      assert.equal(await again.stop('SIGTERM'), 0, 'SIGTERM is a clean exit');
    } finally {
      await again.cleanup();
    }
  });

  const badFiles: Array<[string, string, RegExp]> = [
    ['overlapping pools', poolYaml('a', { subnet: '10.9.0.0/24', ips: ['10.9.0.10-10.9.0.20'] }) + '---\n' + poolYaml('b', { subnet: '10.9.0.0/24', ips: ['10.9.0.15-10.9.0.30'] }), /pools "a" and "b" overlap: both hold 10\.9\.0\.15-10\.9\.0\.20 \(POOL_OVERLAP\)/],
    ['broken YAML', 'apiVersion: tidepool.dev/v1alpha1\nkind: [IPPool\n', /pools\.yaml:\d+: not valid YAML/],
    ['IP outside the subnet', poolYaml('a', { subnet: '10.9.0.0/24', ips: ['10.8.0.1'] }), /pool "a": spec\.ips\[0\] "10\.8\.0\.1" is outside subnet 10\.9\.0\.0\/24/],
  ];
  for (const [name, pools, message] of badFiles) {
    test(`a pool file with ${name} is refused as a whole`, async () => {
      await assert.rejects(startAgent({ pools }), (err: Error) => {
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('metrics: allocation counters, latency histogram and per-pool gauges', async () => {
    const agent = await startAgent({ pools: POOLS, args: ['--metrics-listen', '127.0.0.1:0'] });
    try {
      await agent.call('POST', '/v1/allocate', { containerId: 'm1', ifname: 'eth0', netns: '', ipv4Pools: ['lan'] });
      await agent.call('POST', '/v1/release', { containerId: 'm1', ifname: 'eth0' });
      const address = await waitForMetricsAddress(agent);
      const text = await new Promise<string>((resolve, reject) => {
        get(`http://${address}/metrics`, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
      assert.match(text, /tidepool_allocations_total\{result="allocated"\} 1/);
      assert.match(text, /tidepool_releases_total\{reason="del",result="released"\} 1/);
      assert.match(text, /tidepool_agent_request_duration_seconds_bucket\{le="0.001",route="\/v1\/allocate",code="200"\} \d/);
      assert.match(text, /^tidepool_pool_capacity_ips\{pool="lan"\} 3$/m);
      assert.match(text, /^tidepool_pool_allocated_ips\{pool="lan"\} 0$/m);
    } finally {
      await agent.cleanup();
    }
  });
});
