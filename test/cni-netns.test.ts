// Debian's bridge and macvlan plugins with tidepool as IPAM, in real network
// namespaces, through the real plugin binary and a real agent process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { startAgent, poolYaml, type AgentProcess } from './helpers/agent-process.ts';
import { CNI_BIN, cniEnv, execPlugin, ip, ipQuiet, netnsUnavailable } from './helpers/netns.ts';

const tag = (process.pid % 10000).toString(36);
const BRIDGE = `tpbr${tag}`;
const MASTER = `tpm${tag}`;
const nsName = (n: string) => `tp-${tag}-${n}`;

const POOLS = [
  poolYaml('br-v4', { subnet: '10.77.0.0/24', ips: ['10.77.0.10-10.77.0.20'], gateway: '10.77.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }] }),
  poolYaml('br-v6', { subnet: 'fd77::/64', ips: ['fd77::10-fd77::20'], gateway: 'fd77::1' }),
  poolYaml('mv-v4', { subnet: '10.78.0.0/24', ips: ['10.78.0.10-10.78.0.20'], gateway: '10.78.0.1', routes: [{ dst: '192.0.2.0/24', gw: '10.78.0.1' }] }),
].join('---\n');

describe('CNI plugins in real network namespaces', () => {
  let agent: AgentProcess;
  const namespaces = new Set<string>();
  const addNs = (n: string) => {
    const name = nsName(n);
    ip('netns', 'add', name);
    namespaces.add(name);
    return name;
  };

  before(async () => {
    const why = netnsUnavailable();
    assert.equal(why, undefined, `real-namespace tests cannot run: ${why}`);
    agent = await startAgent({ pools: POOLS, args: ['--gc-interval', '200ms', '--gc-grace', '300ms'] });
    ip('link', 'add', MASTER, 'type', 'veth', 'peer', 'name', `${MASTER}p`);
    ip('link', 'set', MASTER, 'up');
  });

  after(async () => {
    for (const n of namespaces) ipQuiet('netns', 'del', n);
    ipQuiet('link', 'del', MASTER);
    ipQuiet('link', 'del', BRIDGE);
    await agent?.cleanup();
  });

  const bridgeConf = (cniVersion: string, ipam: Record<string, unknown>) => ({
    cniVersion,
    name: 'tidepool-bridge',
    type: 'bridge',
    bridge: BRIDGE,
    ipam: { type: 'tidepool', socket: agent.socket, ...ipam },
  });
  const macvlanConf = (cniVersion: string) => ({
    cniVersion,
    name: 'tidepool-macvlan',
    type: 'macvlan',
    master: MASTER,
    mode: 'bridge',
    ipam: { type: 'tidepool', socket: agent.socket, ipv4Pools: ['mv-v4'] },
  });

  async function allocatedIps(): Promise<string[]> {
    const res = await agent.call('GET', '/v1/allocations');
    return (res.body as Array<{ ip: string }>).map((a) => a.ip).sort();
  }

  for (const cniVersion of ['0.3.1', '1.0.0']) {
    test(`bridge ${cniVersion}: ADD puts the address and routes in the namespace, DEL frees the IP`, async () => {
      const ns = addNs(`br${cniVersion.replace(/\./g, '')}`);
      const id = `ctr-bridge-${cniVersion}`;
      const conf = bridgeConf(cniVersion, { ipv4Pools: ['br-v4'] });
      const add = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', id, ns), conf);
      assert.equal(add.code, 0, add.stdout + add.stderr);
      assert.equal(add.json.cniVersion, cniVersion);
      const ipEntry = add.json.ips[0];
      assert.match(ipEntry.address, /^10\.77\.0\.(1\d|20)\/24$/);
      assert.equal(ipEntry.gateway, '10.77.0.1');
      // 0.3.x results carry the family in each ips[] entry; 1.0.0 dropped it.
      assert.equal(ipEntry.version, cniVersion === '0.3.1' ? '4' : undefined);
      assert.ok(add.json.interfaces.some((i: { name: string; sandbox?: string }) => i.name === 'eth0' && i.sandbox));

      const addr = ip('-n', ns, '-4', 'addr', 'show', 'dev', 'eth0');
      assert.match(addr, new RegExp(`inet ${ipEntry.address.replace(/\./g, '\\.')} `));
      const routes = ip('-n', ns, '-4', 'route', 'show');
      assert.match(routes, /default via 10\.77\.0\.1 dev eth0/);
      const bare = ipEntry.address.split('/')[0];
      assert.ok((await allocatedIps()).includes(bare));

      const check = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('CHECK', id, ns), { ...conf, prevResult: add.json });
      if (cniVersion !== '0.3.1') assert.equal(check.code, 0, check.stdout + check.stderr);

      const del = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', id, ns), conf);
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.ok(!(await allocatedIps()).includes(bare), 'DEL freed the IP');
      assert.throws(() => ip('-n', ns, 'link', 'show', 'eth0'), 'interface removed');
      const again = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', id, ns), conf);
      assert.equal(again.code, 0, 'a repeated DEL is harmless: ' + again.stdout);
    });

    test(`macvlan ${cniVersion} on a veth master: ADD configures the namespace, DEL frees the IP`, async () => {
      const ns = addNs(`mv${cniVersion.replace(/\./g, '')}`);
      const id = `ctr-macvlan-${cniVersion}`;
      const add = await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('ADD', id, ns), macvlanConf(cniVersion));
      assert.equal(add.code, 0, add.stdout + add.stderr);
      const address: string = add.json.ips[0].address;
      assert.match(address, /^10\.78\.0\.\d+\/24$/);
      assert.match(ip('-n', ns, '-4', 'addr', 'show', 'dev', 'eth0'), new RegExp(`inet ${address.replace(/\./g, '\\.')} `));
      assert.match(ip('-n', ns, '-4', 'route', 'show'), /192\.0\.2\.0\/24 via 10\.78\.0\.1 dev eth0/);
      const del = await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('DEL', id, ns), macvlanConf(cniVersion));
      assert.equal(del.code, 0, del.stdout + del.stderr);
      assert.ok(!(await allocatedIps()).includes(address.split('/')[0]!));
    });
  }

  test('dual-stack bridge ADD gets one IPv4 and one IPv6 address in the namespace', async () => {
    const ns = addNs('dual');
    const conf = bridgeConf('1.0.0', { ipv4Pools: ['br-v4'], ipv6Pools: ['br-v6'] });
    const add = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-dual', ns), conf);
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const [v4, v6] = add.json.ips.map((i: { address: string }) => i.address);
    assert.match(v4, /^10\.77\.0\.\d+\/24$/);
    assert.match(v6, /^fd77::1[0-9a-f]?\/64$|^fd77::20\/64$/);
    assert.match(ip('-n', ns, '-6', 'addr', 'show', 'dev', 'eth0'), new RegExp(`inet6 ${v6} `));
    const del = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('DEL', 'ctr-dual', ns), conf);
    assert.equal(del.code, 0);
    const left = await allocatedIps();
    assert.ok(!left.includes(v4.split('/')[0]) && !left.includes(v6.split('/')[0]));
  });

  test('an exhausted pool fails ADD with a plugin code of 100+ that names the pool, through macvlan', async () => {
    const held: string[] = [];
    for (let i = 0; held.length < 11; i++) {
      const res = await agent.call('POST', '/v1/allocate', { containerId: `filler${i}`, ifname: 'eth0', netns: '', ipv4Pools: ['mv-v4'] });
      if (res.status !== 200) break;
      held.push(`filler${i}`);
    }
    const ns = addNs('full');
    const add = await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('ADD', 'ctr-full', ns), macvlanConf('1.0.0'));
    assert.notEqual(add.code, 0);
    assert.equal(add.json.code, 100);
    assert.match(add.json.msg, /pool "mv-v4"/);
    for (const id of held) await agent.call('POST', '/v1/release', { containerId: id, ifname: 'eth0' });
    await execPlugin(`${CNI_BIN}/macvlan`, cniEnv('DEL', 'ctr-full', ns), macvlanConf('1.0.0'));
  });

  test('a namespace deleted without DEL gets its IP reclaimed by the agent', async () => {
    const ns = addNs('leak');
    const add = await execPlugin(`${CNI_BIN}/bridge`, cniEnv('ADD', 'ctr-leak', ns), bridgeConf('1.0.0', { ipv4Pools: ['br-v4'] }));
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const leaked = add.json.ips[0].address.split('/')[0];
    assert.ok((await allocatedIps()).includes(leaked));
    ip('netns', 'del', ns);
    namespaces.delete(ns);
    // gc-interval 200ms, grace 300ms: bounded wait well above both.
    let left = await allocatedIps();
    for (let i = 0; i < 100 && left.includes(leaked); i++) {
      await delay(100);
      left = await allocatedIps();
    }
    assert.ok(!left.includes(leaked), `${leaked} was reclaimed`);
    assert.ok(agent.logs.some((l) => l.includes('"reason":"netns-gc"') && l.includes(leaked)), 'the reclaim is logged with its reason');
  });
});
