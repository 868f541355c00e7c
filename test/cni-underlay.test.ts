// The underlay data path in real network namespaces, through Debian's bridge
// and macvlan plugins and a real standalone agent: default routes and
// cleangateway, IP conflict detection (ARP probe, IPv6 neighbour
// solicitation) with holds, and gateway reachability.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { runCli, startAgent, poolYaml, type AgentProcess } from './helpers/agent-process.ts';
import { CNI_BIN, cniEnv, execPlugin, ip, netnsUnavailable } from './helpers/netns.ts';
import { createTestLan, type TestLan } from './helpers/test-lan.ts';

const HOLD_MS = 1500;

const POOLS = [
  // Two IPs: the first is taken on the LAN by the holder namespace.
  poolYaml('cf-v4', { subnet: '10.81.0.0/24', ips: ['10.81.0.10-10.81.0.11'], gateway: '10.81.0.1' }),
  poolYaml('cf-v6', { subnet: 'fd81::/64', ips: ['fd81::10-fd81::11'] }),
  poolYaml('mv-v4', { subnet: '10.85.0.0/24', ips: ['10.85.0.10-10.85.0.12'], gateway: '10.85.0.1' }),
  poolYaml('gw-v4', { subnet: '10.82.0.0/24', ips: ['10.82.0.10-10.82.0.20'], gateway: '10.82.0.1', gatewayDetection: true, detectionTimeoutMs: 100 }),
  poolYaml('gw-v6', { subnet: 'fd82::/64', ips: ['fd82::10-fd82::20'], gateway: 'fd82::1', gatewayDetection: true, detectionTimeoutMs: 100 }),
  poolYaml('nogw-v4', { subnet: '10.84.0.0/24', ips: ['10.84.0.10-10.84.0.20'], gateway: '10.84.0.1', gatewayDetection: true, detectionTimeoutMs: 100 }),
  poolYaml('rt-v4', { subnet: '10.86.0.0/24', ips: ['10.86.0.10-10.86.0.20'], gateway: '10.86.0.1' }),
  poolYaml('rt-v6', { subnet: 'fd86::/64', ips: ['fd86::10-fd86::20'], gateway: 'fd86::1' }),
  poolYaml('clean-v4', { subnet: '10.87.0.0/24', ips: ['10.87.0.10-10.87.0.20'], gateway: '10.87.0.1', cleanGateway: true, routes: [{ dst: '192.0.2.0/24', gw: '10.87.0.1' }] }),
].join('---\n');

describe('underlay data path in real network namespaces', () => {
  let agent: AgentProcess;
  let lan: TestLan;
  let master: string;
  const addNs = (n: string): string => lan.ns(n);
  /** Another host on the LAN: on the bridge, or the peer of the macvlan master. */
  const lanHost = (n: string, addresses: string[], on: 'bridge' | 'master' = 'bridge'): { ns: string; mac: string } => {
    if (on === 'bridge') return lan.host(n, addresses);
    const ns = addNs(n);
    ip('link', 'set', `${master}p`, 'netns', ns);
    ip('-n', ns, 'link', 'set', `${master}p`, 'name', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    for (const a of addresses) ip('-n', ns, 'addr', 'add', a, 'dev', 'eth0');
    return { ns, mac: lan.macOf(ns) };
  };

  before(async () => {
    const why = netnsUnavailable();
    assert.equal(why, undefined, `real-namespace tests cannot run: ${why}`);
    agent = await startAgent({ pools: POOLS, args: ['--gc-interval', '200ms', '--ip-conflict-hold', `${HOLD_MS}ms`] });
    assert.ok(!agent.logs.some((l) => l.includes('addresses cannot be probed')), `the probing tools are installed (scripts/setup.sh):\n${agent.logs.join('\n')}`);
    lan = createTestLan('tpu');
    master = `tpum${lan.tag}`;
    ip('link', 'add', master, 'type', 'veth', 'peer', 'name', `${master}p`);
    lan.track(master);
    ip('link', 'set', master, 'up');
  });

  after(async () => {
    lan?.close();
    await agent?.cleanup();
  });

  const bridgeConf = (ipam: Record<string, unknown>) => ({
    cniVersion: '1.0.0',
    name: 'underlay-bridge',
    type: 'bridge',
    bridge: lan.bridge,
    ipam: { type: 'tidepool', socket: agent.socket, ...ipam },
  });
  const macvlanConf = (ipam: Record<string, unknown>) => ({
    cniVersion: '1.0.0',
    name: 'underlay-macvlan',
    type: 'macvlan',
    master,
    mode: 'bridge',
    ipam: { type: 'tidepool', socket: agent.socket, ...ipam },
  });
  async function allocations(): Promise<Array<{ ip: string; pool: string; containerId: string; hold?: { reason: string; mac: string; until: number; detectedFor?: string } }>> {
    return (await agent.call('GET', '/v1/allocations')).body;
  }
  async function waitUntilFree(address: string): Promise<void> {
    // The hold is 1.5 s and the collector runs every 200 ms; 60 s is for a loaded machine.
    const deadline = Date.now() + 60_000;
    while ((await allocations()).some((a) => a.ip === address)) {
      if (Date.now() > deadline) throw new Error(`${address} is still held after 60 s; the agent's log:\n${agent.logs.slice(-20).join('\n')}`);
      await delay(100);
    }
  }

  test('IPv4 through bridge: an IP another namespace holds is held out of use with its MAC, the pod gets the next one, and the IP comes back after the hold', async () => {
    const holder = lanHost('h4', ['10.81.0.10/24']);
    const ns = addNs('cf4a');
    const add = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-cf4a', ns), bridgeConf({ ipv4Pools: ['cf-v4'] }));
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.equal(add.json.ips[0].address, '10.81.0.11/24', 'the conflicting first IP was skipped');
    assert.match(ip('-n', ns, '-4', 'addr', 'show', 'dev', 'eth0'), /inet 10\.81\.0\.11\/24 /);

    const held = (await allocations()).find((a) => a.ip === '10.81.0.10');
    assert.equal(held?.hold?.reason, 'ip-conflict');
    assert.equal(held?.hold?.mac, holder.mac, 'the hold names the MAC that answered');
    assert.equal(held?.hold?.detectedFor, 'container ctr-cf4a');
    const cli = await runCli(['allocations', '--socket', agent.socket]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`10\\.81\\.0\\.10\\s+cf-v4\\s+.*held: ip-conflict, MAC ${holder.mac}`));
    assert.ok(agent.logs.some((l) => l.includes('IP conflict: IP held out of use') && l.includes(holder.mac)));

    // The other host lets the address go; once the hold ends, the IP is handed out again.
    ip('-n', holder.ns, 'addr', 'del', '10.81.0.10/24', 'dev', 'eth0');
    await waitUntilFree('10.81.0.10');
    assert.ok(agent.logs.some((l) => l.includes('"reason":"hold-expired"') && l.includes('10.81.0.10')));
    const ns2 = addNs('cf4b');
    const again = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-cf4b', ns2), bridgeConf({ ipv4Pools: ['cf-v4'] }));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.json.ips[0].address, '10.81.0.10/24');
    for (const [id, n] of [['ctr-cf4a', ns], ['ctr-cf4b', ns2]] as const) {
      assert.equal((await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', id, n), bridgeConf({ ipv4Pools: ['cf-v4'] }))).code, 0);
    }
  });

  test('IPv6 through bridge: the same with a neighbour solicitation', async () => {
    const holder = lanHost('h6', ['fd81::10/64']);
    const ns = addNs('cf6a');
    const add = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-cf6a', ns), bridgeConf({ ipv6Pools: ['cf-v6'] }));
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.equal(add.json.ips[0].address, 'fd81::11/64');
    const held = (await allocations()).find((a) => a.ip === 'fd81::10');
    assert.equal(held?.hold?.reason, 'ip-conflict');
    assert.equal(held?.hold?.mac, holder.mac);
    // The probe's temporary link-local source is gone again; only the kernel's own remains.
    const linkLocals = ip('-n', ns, '-6', 'addr', 'show', 'dev', 'eth0').match(/inet6 fe80::\S+/g) ?? [];
    assert.equal(linkLocals.length, 1, `one link-local address: ${linkLocals.join(', ')}`);

    ip('-n', holder.ns, 'addr', 'del', 'fd81::10/64', 'dev', 'eth0');
    await waitUntilFree('fd81::10');
    const ns2 = addNs('cf6b');
    const again = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-cf6b', ns2), bridgeConf({ ipv6Pools: ['cf-v6'] }));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.json.ips[0].address, 'fd81::10/64');
    for (const [id, n] of [['ctr-cf6a', ns], ['ctr-cf6b', ns2]] as const) {
      assert.equal((await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', id, n), bridgeConf({ ipv6Pools: ['cf-v6'] }))).code, 0);
    }
  });

  test('through macvlan (its link is still down when IPAM runs): the conflicting IP is skipped, and a netconf can switch detection off', async () => {
    const holder = lanHost('hm', ['10.85.0.10/24'], 'master');
    const ns = addNs('mva');
    const add = await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('ADD', 'ctr-mva', ns), macvlanConf({ ipv4Pools: ['mv-v4'] }));
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.equal(add.json.ips[0].address, '10.85.0.11/24');
    assert.equal((await allocations()).find((a) => a.ip === '10.85.0.10')?.hold?.mac, holder.mac);
    // A default route through the pool's gateway, which the pool has no explicit route for.
    assert.match(ip('-n', ns, '-4', 'route', 'show'), /default via 10\.85\.0\.1 dev eth0/);

    const ns2 = addNs('mvb');
    const off = await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('ADD', 'ctr-mvb', ns2), macvlanConf({ ipv4Pools: ['mv-v4'], ipConflictDetection: false }));
    assert.equal(off.code, 0, off.stdout + off.stderr);
    assert.equal(off.json.ips[0].address, '10.85.0.12/24');
    for (const [id, n] of [['ctr-mva', ns], ['ctr-mvb', ns2]] as const) {
      assert.equal((await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('DEL', id, n), macvlanConf({ ipv4Pools: ['mv-v4'] }))).code, 0);
    }
  });

  test('gateway detection: a gateway that answers lets the ADD through, one that does not fails it naming gateway and interface, and nothing stays allocated', async () => {
    lanHost('gw', ['10.82.0.1/24', 'fd82::1/64']);
    const ns = addNs('gwok');
    const ok = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-gwok', ns), bridgeConf({ ipv4Pools: ['gw-v4'], ipv6Pools: ['gw-v6'] }));
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ip('-n', ns, '-4', 'route', 'show'), /default via 10\.82\.0\.1 dev eth0/);
    assert.match(ip('-n', ns, '-6', 'route', 'show'), /default via fd82::1 dev eth0/);

    const before = (await allocations()).length;
    const ns2 = addNs('gwno');
    const no = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-gwno', ns2), bridgeConf({ ipv4Pools: ['nogw-v4'] }));
    assert.notEqual(no.code, 0);
    assert.equal(no.json.code, 114, no.stdout);
    assert.match(no.json.msg, /gateway 10\.84\.0\.1 of pool "nogw-v4" did not answer on interface eth0 \(3 tries of 100 ms\); no IP was allocated/);
    assert.match(no.json.details, /^GATEWAY_UNREACHABLE /);
    assert.equal((await allocations()).length, before, 'nothing stays allocated');
    assert.ok(!(await allocations()).some((a) => a.containerId === 'ctr-gwno'));
    // The main plugin left its interface behind; DEL cleans up as after any failed ADD.
    assert.equal((await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', 'ctr-gwno', ns2), bridgeConf({ ipv4Pools: ['nogw-v4'] }))).code, 0);
    assert.equal((await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', 'ctr-gwok', ns), bridgeConf({ ipv4Pools: ['gw-v4'], ipv6Pools: ['gw-v6'] }))).code, 0);
  });

  test("routes: a pool's gateway gives eth0 a default route per family; clean_gateway and spec.cleanGateway give none", async () => {
    const ns = addNs('rt');
    const add = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-rt', ns), bridgeConf({ ipv4Pools: ['rt-v4'], ipv6Pools: ['rt-v6'], ipConflictDetection: false }));
    assert.equal(add.code, 0, add.stdout + add.stderr);
    assert.deepEqual(add.json.routes, [
      { dst: '0.0.0.0/0', gw: '10.86.0.1' },
      { dst: '::/0', gw: 'fd86::1' },
    ]);
    assert.match(ip('-n', ns, '-4', 'route', 'show'), /default via 10\.86\.0\.1 dev eth0/);
    assert.match(ip('-n', ns, '-6', 'route', 'show'), /default via fd86::1 dev eth0/);

    const ns2 = addNs('rtc');
    const clean = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-rtc', ns2), bridgeConf({ ipv4Pools: ['rt-v4'], clean_gateway: true, ipConflictDetection: false }));
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.deepEqual(clean.json.routes ?? [], [], 'the bridge plugin leaves out an empty list');
    assert.doesNotMatch(ip('-n', ns2, '-4', 'route', 'show'), /default/);

    const ns3 = addNs('rtp');
    const pool = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-rtp', ns3), bridgeConf({ ipv4Pools: ['clean-v4'], ipConflictDetection: false }));
    assert.equal(pool.code, 0, pool.stdout + pool.stderr);
    const routes = ip('-n', ns3, '-4', 'route', 'show');
    assert.doesNotMatch(routes, /default/);
    assert.match(routes, /192\.0\.2\.0\/24 via 10\.87\.0\.1 dev eth0/, "the pool's own routes stay");
    for (const [id, n, p] of [['ctr-rt', ns, { ipv4Pools: ['rt-v4'], ipv6Pools: ['rt-v6'] }], ['ctr-rtc', ns2, { ipv4Pools: ['rt-v4'] }], ['ctr-rtp', ns3, { ipv4Pools: ['clean-v4'] }]] as const) {
      assert.equal((await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', id, n), bridgeConf(p))).code, 0);
    }
  });

  test('a bad detection setting or clean_gateway in the netconf fails the ADD naming the field; nothing is allocated', async () => {
    const before = await allocations();
    for (const [ipam, field] of [
      [{ detectionTimeoutMs: 0 }, 'ipam.detectionTimeoutMs'],
      [{ detectionTimeoutMs: '100ms' }, 'ipam.detectionTimeoutMs'],
      [{ gatewayDetection: 'yes' }, 'ipam.gatewayDetection'],
      [{ clean_gateway: 1 }, 'ipam.clean_gateway'],
    ] as const) {
      const ns = addNs(`bad${field.length}${Object.values(ipam)[0]}`.replace(/[^a-z0-9]/gi, '').slice(0, 12));
      const res = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-bad', ns), bridgeConf({ ipv4Pools: ['rt-v4'], ...ipam }));
      assert.equal(res.json?.code, 7, res.stdout);
      assert.ok(res.json.msg.startsWith(field), res.json.msg);
      await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', 'ctr-bad', ns), bridgeConf({ ipv4Pools: ['rt-v4'] }));
    }
    assert.deepEqual(await allocations(), before);
  });
});
