// The underlay data path in Kubernetes mode: a real agent process against the
// fake API server, Debian's bridge plugin in real network namespaces. A
// StatefulSet pod's fixed IP taken on the LAN, routes from the pod's
// annotation, and a KubeVirt live migration with both launcher pods alive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startKubeAgent, type AgentProcess } from './helpers/agent-process.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { createTestLan, type TestLan } from './helpers/test-lan.ts';
import { CNI_BIN, cniEnv, execPlugin, ip, netnsUnavailable } from './helpers/netns.ts';

describe('underlay data path in Kubernetes mode, real namespaces', () => {
  let cluster: TestCluster;
  let agent: AgentProcess;
  let lan: TestLan;
  const addNs = (n: string): string => lan.ns(n);
  const lanHost = (n: string, addresses: string[]) => lan.host(n, addresses);

  before(async () => {
    const why = netnsUnavailable();
    assert.equal(why, undefined, `real-namespace tests cannot run: ${why}`);
    cluster = await startCluster();
    cluster.server.registerKind({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine', namespaced: true, statusSubresource: false });
    await cluster.node('node-1');
    await cluster.pool('sts-v4', { subnet: '10.91.0.0/24', ips: ['10.91.0.10'], gateway: '10.91.0.1' });
    await cluster.pool('rk-v4', { subnet: '10.92.0.0/24', ips: ['10.92.0.10-10.92.0.30'], gateway: '10.92.0.1' });
    await cluster.pool('vm-v4', { subnet: '10.93.0.0/24', ips: ['10.93.0.10-10.93.0.20'], gateway: '10.93.0.1' });
    agent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'node-1' });
    lan = createTestLan('tpk');
  });

  after(async () => {
    lan?.close();
    await agent?.cleanup();
    await cluster?.close();
  });

  const conf = (ipam: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0',
    name: 'lan',
    type: 'bridge',
    bridge: lan.bridge,
    ipam: { type: 'tidepool', socket: agent.socket, ...ipam },
  });
  const podEnv = (command: string, id: string, ns: string, pod: string, uid: string) => ({
    ...cniEnv(command, id, ns),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod};K8S_POD_UID=${uid}`,
  });

  test("a StatefulSet pod whose fixed IP another host now answers for fails, naming the IP and the MAC; IPConflict Events on the pod and the pool; the IP stays the ordinal's", async () => {
    await cluster.statefulSet('default', 'web', 1);
    const owner = { kind: 'StatefulSet', name: 'web' };
    const uid1 = await cluster.pod({ name: 'web-0', node: 'node-1', owner });
    const ns1 = addNs('web0a');
    const first = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'web0-a', ns1, 'web-0', uid1), conf({ ipv4Pools: ['sts-v4'] }));
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(first.json.ips[0].address, '10.91.0.10/24');
    // The pod is re-created (evicted, say); while it is away a host on the LAN takes its address.
    await cluster.deletePod('default', 'web-0', true);
    assert.equal((await execPlugin(`${CNI_BIN}/bridge`, podEnv('DEL', 'web0-a', ns1, 'web-0', uid1), conf({ ipv4Pools: ['sts-v4'] }))).code, 0);
    const holder = lanHost('hsts', ['10.91.0.10/24']);
    const uid2 = await cluster.pod({ name: 'web-0', node: 'node-1', owner });
    const ns2 = addNs('web0b');
    const again = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'web0-b', ns2, 'web-0', uid2), conf({ ipv4Pools: ['sts-v4'] }));
    assert.notEqual(again.code, 0);
    assert.equal(again.json.code, 113, again.stdout);
    assert.match(again.json.msg, new RegExp(`^pod default/web-0: IP 10\\.91\\.0\\.10 \\(pool "sts-v4"\\) is already in use on the LAN by MAC ${holder.mac}; the pod's IP is fixed \\(sts:default/web/0\\)`));
    const rec = cluster.allocations().find((a) => a.ip === '10.91.0.10');
    assert.equal(rec?.state, 'allocated');
    assert.deepEqual(rec?.owner?.['statefulSet'], { namespace: 'default', name: 'web', ordinal: 0 }, 'the IP stays with the ordinal, not a hold');
    assert.equal(rec?.owner?.['hold'], undefined);
    // Events are posted after the ADD has answered: wait for both, with a generous limit.
    const posted = () => {
      const events = cluster.events('default').filter((e) => e.reason === 'IPConflict');
      const onPod = events.some((e) => e.involvedObject.name === 'web-0' && e.message.includes(holder.mac));
      const onPool = events.some((e) => e.involvedObject.name === 'sts-v4' && e.message.includes('10.91.0.10'));
      return { events, both: onPod && onPool };
    };
    for (let i = 0; i < 600 && !posted().both; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(posted().both, `IPConflict Events on the pod and the pool: ${JSON.stringify(posted().events)}`);
    // Once the host lets the address go, the pod's next try gets its IP back.
    ip('-n', holder.ns, 'addr', 'del', '10.91.0.10/24', 'dev', 'eth0');
    await execPlugin(`${CNI_BIN}/bridge`, podEnv('DEL', 'web0-b', ns2, 'web-0', uid2), conf({ ipv4Pools: ['sts-v4'] }));
    const retry = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'web0-c', ns2, 'web-0', uid2), conf({ ipv4Pools: ['sts-v4'] }));
    assert.equal(retry.code, 0, retry.stdout + retry.stderr);
    assert.equal(retry.json.ips[0].address, '10.91.0.10/24');
  });

  test("routes from the pod's annotation (tidepool's key and Spiderpool's) reach the namespace beside the default route; cleangateway in ippools drops the default route", async () => {
    const uid = await cluster.pod({ name: 'routed', node: 'node-1', annotations: { 'ipam.tidepool.dev/routes': '[{"dst":"198.51.100.0/24","gw":"10.92.0.1"},{"dst":"203.0.113.7/24","gw":"10.92.0.254"}]' } });
    const ns = addNs('routed');
    const add = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'routed', ns, 'routed', uid), conf({ ipv4Pools: ['rk-v4'] }));
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const routes = ip('-n', ns, '-4', 'route', 'show');
    assert.match(routes, /198\.51\.100\.0\/24 via 10\.92\.0\.1 dev eth0/);
    assert.match(routes, /203\.0\.113\.0\/24 via 10\.92\.0\.254 dev eth0/, 'host bits of dst are cleared');
    assert.match(routes, /default via 10\.92\.0\.1 dev eth0/);

    const uid2 = await cluster.pod({ name: 'spider', node: 'node-1', annotations: { 'ipam.spidernet.io/routes': '[{"dst":"192.0.2.0/24","gw":"10.92.0.2"}]' } });
    const ns2 = addNs('spider');
    const spider = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'spider', ns2, 'spider', uid2), conf({ ipv4Pools: ['rk-v4'] }));
    assert.equal(spider.code, 0, spider.stdout + spider.stderr);
    assert.match(ip('-n', ns2, '-4', 'route', 'show'), /192\.0\.2\.0\/24 via 10\.92\.0\.2 dev eth0/);

    const uid3 = await cluster.pod({ name: 'clean', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippools': '[{"interface":"eth0","ipv4":["rk-v4"],"cleangateway":true}]' } });
    const ns3 = addNs('clean');
    const clean = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'clean', ns3, 'clean', uid3), conf());
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.doesNotMatch(ip('-n', ns3, '-4', 'route', 'show'), /default/);
  });

  test('a malformed routes annotation fails the ADD naming the annotation and entry; nothing is allocated or held', async () => {
    const before = JSON.stringify(cluster.allocations().filter((a) => a.state === 'allocated'));
    const cases: Array<[string, string, RegExp]> = [
      ['rt-json', '[{"dst":', /annotation ipam\.tidepool\.dev\/routes is not valid JSON/],
      ['rt-prefix', '[{"dst":"10.0.0.0/33","gw":"10.92.0.1"}]', /annotation ipam\.tidepool\.dev\/routes\[0\]\.dst "10\.0\.0\.0\/33" is not a CIDR/],
      ['rt-outside', '[{"dst":"10.0.0.0/8","gw":"172.16.0.1"}]', /annotation ipam\.tidepool\.dev\/routes\[0\]\.gw "172\.16\.0\.1" is outside every subnet of interface eth0 \(eth0: 10\.92\.0\.0\/24\)/],
      ['rt-family', '[{"dst":"fd00::/8","gw":"10.92.0.1"}]', /routes\[0\]\.gw "10\.92\.0\.1" is IPv4 but dst "fd00::\/8" is IPv6/],
      ['rt-field', '[{"dst":"10.0.0.0/8","via":"10.92.0.1"}]', /routes\[0\]\.via is not a known field/],
    ];
    for (const [name, value, pattern] of cases) {
      const uid = await cluster.pod({ name, node: 'node-1', annotations: { 'ipam.tidepool.dev/routes': value } });
      const ns = addNs(name);
      const res = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', name, ns, name, uid), conf({ ipv4Pools: ['rk-v4'] }));
      assert.equal(res.json?.code, 111, `${name}: ${res.stdout}`);
      assert.match(res.json.msg, pattern);
      assert.match(res.json.msg, new RegExp(`^pod default/${name}: `));
      await execPlugin(`${CNI_BIN}/bridge`, podEnv('DEL', name, ns, name, uid), conf({ ipv4Pools: ['rk-v4'] }));
    }
    assert.equal(JSON.stringify(cluster.allocations().filter((a) => a.state === 'allocated')), before);
  });

  test("KubeVirt live migration: the target gets the VM's IP while the source still answers for it; the source's DEL, its deletion and the collector leave it held, and the record names the target", async () => {
    await cluster.rest.create('/apis/kubevirt.io/v1/namespaces/default/virtualmachines', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm1', namespace: 'default' }, spec: {} });
    const owner = { kind: 'VirtualMachineInstance', name: 'vm1', apiVersion: 'kubevirt.io/v1' };
    const labels = { 'vm.kubevirt.io/name': 'vm1', 'kubevirt.io': 'virt-launcher' };
    const sourceUid = await cluster.pod({ name: 'virt-launcher-vm1-src', node: 'node-1', labels, owner });
    const sourceNs = addNs('vmsrc');
    const source = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'vm1-src', sourceNs, 'virt-launcher-vm1-src', sourceUid), conf({ ipv4Pools: ['vm-v4'] }));
    assert.equal(source.code, 0, source.stdout + source.stderr);
    const vmIp: string = source.json.ips[0].address;

    // The migration's target pod: KubeVirt labels it with the migration's UID and names the migration in an annotation.
    const targetUid = await cluster.pod({
      name: 'virt-launcher-vm1-tgt',
      node: 'node-1',
      labels: { ...labels, 'kubevirt.io/migrationJobUID': 'b5c0d6a2-0000-4000-8000-000000000001' },
      annotations: { 'kubevirt.io/migrationJobName': 'vm1-migration' },
      owner,
    });
    const targetNs = addNs('vmtgt');
    // The source's interface is up with the VM's IP: a conflict probe would find it, so none runs for a migration target.
    const target = await execPlugin(`${CNI_BIN}/bridge`, podEnv('ADD', 'vm1-tgt', targetNs, 'virt-launcher-vm1-tgt', targetUid), conf({ ipv4Pools: ['vm-v4'] }));
    assert.equal(target.code, 0, target.stdout + target.stderr);
    assert.equal(target.json.ips[0].address, vmIp, "the target gets the VM's IP");
    const record = () => cluster.allocations().find((a) => `${a.ip}/24` === vmIp);
    assert.equal(record()?.owner?.['podName'], 'virt-launcher-vm1-tgt');
    assert.deepEqual(record()?.owner?.['vm'], { namespace: 'default', name: 'vm1' });

    // The migration completes: the source pod's sandbox goes (DEL), then the pod itself.
    const del = await execPlugin(`${CNI_BIN}/bridge`, podEnv('DEL', 'vm1-src', sourceNs, 'virt-launcher-vm1-src', sourceUid), conf({ ipv4Pools: ['vm-v4'] }));
    assert.equal(del.code, 0, del.stdout + del.stderr);
    assert.equal(record()?.state, 'allocated', "the source's DEL leaves the VM's IP held");
    await cluster.deletePod('default', 'virt-launcher-vm1-src', true);
    const gc = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller, '--dry-run', '--all', '--json']);
    assert.equal(gc.code, 0, gc.stderr);
    const verdict = (JSON.parse(gc.stdout) as Array<{ ip: string; verdict: { action: string } }>).find((e) => `${e.ip}/24` === vmIp)?.verdict;
    assert.equal(verdict?.action, 'keep', `the collector keeps it: ${JSON.stringify(verdict)}`);
    assert.equal(record()?.state, 'allocated');
    assert.equal(record()?.owner?.['podName'], 'virt-launcher-vm1-tgt', 'the record names the target');
    assert.equal(record()?.owner?.['podUid'], targetUid);
  });
});
