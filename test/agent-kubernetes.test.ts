// Kubernetes mode end to end: real agent processes (one per node) against
// the fake API server, driven through their sockets and the real plugin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeAgent, waitForMetricsAddress, type AgentProcess } from './helpers/agent-process.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { execPlugin } from './helpers/netns.ts';

describe('agent in Kubernetes mode', () => {
  let cluster: TestCluster;
  let node1: AgentProcess;
  let node2: AgentProcess;

  before(async () => {
    cluster = await startCluster();
    await cluster.node('node-1', { zone: 'east' });
    await cluster.node('node-2', { zone: 'west' });
    await cluster.namespace('team-a', { annotations: { 'ipam.tidepool.dev/default-ipv4-ippool': '["ns-pool"]' } });
    await cluster.pool('default-v4', { subnet: '10.10.0.0/24', ips: ['10.10.0.10-10.10.0.19'], gateway: '10.10.0.1', default: true });
    await cluster.pool('ns-pool', { subnet: '10.11.0.0/24', ips: ['10.11.0.10-10.11.0.19'] });
    await cluster.pool('annot-v4', { subnet: '10.12.0.0/24', ips: ['10.12.0.10-10.12.0.19'] });
    await cluster.pool('annot-v6', { subnet: 'fd12::/64', ips: ['fd12::10-fd12::19'] });
    await cluster.pool('tiny-v6', { subnet: 'fd13::/64', ips: ['fd13::10'] });
    await cluster.pool('net1-v4', { subnet: '10.14.0.0/24', ips: ['10.14.0.10-10.14.0.19'] });
    await cluster.pool('west-only', { subnet: '10.15.0.0/24', ips: ['10.15.0.10-10.15.0.19'], nodeAffinity: { matchLabels: { zone: 'west' } } });
    await cluster.pool('sts-v4', { subnet: '10.16.0.0/24', ips: ['10.16.0.10-10.16.0.19'] });
    await cluster.pool('reserved-v4', { subnet: '10.17.0.0/24', ips: ['10.17.0.10-10.17.0.12'] });
    await cluster.reserved('keep-out', ['10.17.0.10-10.17.0.11']);
    node1 = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'node-1' });
    node2 = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'node-2' });
  });

  after(async () => {
    await node1?.cleanup();
    await node2?.cleanup();
    await cluster?.close();
  });

  const add = (agent: AgentProcess, pod: { namespace?: string; name: string; uid?: string }, extra: Record<string, unknown> = {}) =>
    agent.call('POST', '/v1/allocate', {
      containerId: `ctr-${pod.name}-${extra['ifname'] ?? 'eth0'}`,
      ifname: 'eth0',
      netns: '',
      network: 'underlay',
      pod: { namespace: pod.namespace ?? 'default', name: pod.name, ...(pod.uid ? { uid: pod.uid } : {}) },
      ...extra,
    });
  const addresses = (res: { body: { ips: Array<{ address: string }> } }) => res.body.ips.map((i) => i.address);

  test('selection order: pod annotation, then namespace annotation, then netconf, then default pools', async () => {
    const byDefault = await add(node1, { name: 'plain', uid: await cluster.pod({ name: 'plain', node: 'node-1' }) });
    // Agents start at a node-specific place in each pool (lanes), so only the pool is predictable.
    assert.match(addresses(byDefault)[0]!, /^10\.10\.0\.1\d\/24$/);
    await cluster.pod({ namespace: 'team-a', name: 'in-ns', node: 'node-1' });
    assert.match(addresses(await add(node1, { namespace: 'team-a', name: 'in-ns' }))[0]!, /^10\.11\.0\.1\d\/24$/);
    await cluster.pod({ name: 'by-netconf', node: 'node-1' });
    assert.match(addresses(await add(node1, { name: 'by-netconf' }, { ipv4Pools: ['annot-v4'] }))[0]!, /^10\.12\.0\.1\d\/24$/);
    await cluster.pod({ namespace: 'team-a', name: 'annotated', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["annot-v4"]}' } });
    const annotated = addresses(await add(node1, { namespace: 'team-a', name: 'annotated' }, { ipv4Pools: ['default-v4'] }))[0]!;
    assert.match(annotated, /^10\.12\.0\.1\d\/24$/);
    const rec = cluster.allocations().find((a) => `${a.ip}/24` === annotated);
    assert.equal(rec?.owner?.['podName'], 'annotated');
    assert.equal(rec?.owner?.['node'], 'node-1');
  });

  test("Spiderpool's annotation keys work unchanged", async () => {
    await cluster.pod({ name: 'from-spiderpool', node: 'node-1', annotations: { 'ipam.spidernet.io/ippool': '{"ipv4":["annot-v4"]}' } });
    const res = await add(node1, { name: 'from-spiderpool' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(addresses(res)[0]!, /^10\.12\.0\.\d+\/24$/);
  });

  test('node affinity: a pool for west nodes serves node-2 and is refused on node-1 with the reason', async () => {
    await cluster.pod({ name: 'west-pod', node: 'node-2' });
    assert.match(addresses(await add(node2, { name: 'west-pod' }, { ipv4Pools: ['west-only'] }))[0]!, /^10\.15\.0\.1\d\/24$/);
    await cluster.pod({ name: 'east-pod', node: 'node-1' });
    const refused = await add(node1, { name: 'east-pod' }, { ipv4Pools: ['west-only'] });
    assert.equal(refused.body.error.code, 'NO_POOL');
    assert.match(refused.body.error.message, /pod default\/east-pod: no usable IPv4 pool from netconf ipam\.ipv4Pools: "west-only" does not match nodeAffinity zone=west for node node-1/);
  });

  test('a malformed annotation fails the ADD naming pod and annotation, posts an Event, and allocates nothing', async () => {
    await cluster.pod({ name: 'broken', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4": ["annot-v4"' } });
    const before = cluster.allocations().length;
    const res = await add(node1, { name: 'broken' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_ANNOTATION');
    assert.match(res.body.error.message, /^pod default\/broken: annotation ipam\.tidepool\.dev\/ippool is not valid JSON/);
    assert.equal(cluster.allocations().length, before);
    let events: ReturnType<TestCluster['events']> = [];
    for (let i = 0; i < 50 && events.length === 0; i++) {
      events = cluster.events('default').filter((e) => e.involvedObject.name === 'broken');
      if (events.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(events[0]?.reason, 'IPAllocationFailed');
    assert.match(events[0]?.message ?? '', /annotation ipam\.tidepool\.dev\/ippool is not valid JSON/);
  });

  test('a pool of the wrong IP version in an annotation is refused with the field named', async () => {
    await cluster.pod({ name: 'wrong-family', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["annot-v6"]}' } });
    const res = await add(node1, { name: 'wrong-family' });
    assert.equal(res.body.error.code, 'POOL_FAMILY_MISMATCH');
    assert.match(res.body.error.message, /pod default\/wrong-family: annotation ipam\.tidepool\.dev\/ippool: ipv4\[0\]: pool "annot-v6" is IPv6, not IPv4/);
  });

  test('multi-NIC: the first ADD allocates every interface; the second ADD returns what was kept for it', async () => {
    const annotation = JSON.stringify([
      { interface: 'eth0', ipv4: ['annot-v4'], ipv6: ['annot-v6'] },
      { interface: 'net1', ipv4: ['net1-v4'] },
    ]);
    await cluster.pod({ name: 'multi', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippools': annotation } });
    const eth0 = await add(node1, { name: 'multi' }, { containerId: 'ctr-multi' });
    assert.equal(eth0.status, 200, JSON.stringify(eth0.body));
    assert.equal(eth0.body.ips.length, 2);
    const held = cluster.allocations().filter((a) => a.owner?.['podName'] === 'multi');
    assert.deepEqual(held.map((a) => a.owner?.['ifname']).sort(), ['eth0', 'eth0', 'net1']);
    const net1 = await add(node1, { name: 'multi' }, { containerId: 'ctr-multi', ifname: 'net1' });
    assert.deepEqual(addresses(net1), [`${held.find((a) => a.owner?.['ifname'] === 'net1')!.ip}/24`]);
    assert.equal(cluster.allocations().filter((a) => a.owner?.['podName'] === 'multi').length, 3, 'nothing new was taken');
  });

  test('dual-stack all or nothing, and a retry after a partial failure reuses instead of draining (Spiderpool issue 4295)', async () => {
    await cluster.pod({ name: 'holder', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv6":["tiny-v6"]}' } });
    assert.equal((await add(node1, { name: 'holder' })).status, 200);
    await cluster.pod({ name: 'dual', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["annot-v4"],"ipv6":["tiny-v6"]}' } });
    const v4Before = cluster.allocations().filter((a) => a.pool === 'annot-v4' && a.owner).length;
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await add(node1, { name: 'dual' }, { containerId: `ctr-dual-${attempt}` });
      assert.equal(res.body.error.code, 'POOL_EXHAUSTED');
      assert.match(res.body.error.message, /pool "tiny-v6"/);
    }
    assert.equal(cluster.allocations().filter((a) => a.pool === 'annot-v4' && a.owner).length, v4Before, 'retries took no IPv4 address');
    await cluster.deletePod('default', 'holder', true);
    const freed = await node1.call('POST', '/v1/release', { containerId: 'ctr-holder-eth0', ifname: 'eth0' });
    assert.equal(freed.body.released.length, 1);
    const ok = await add(node1, { name: 'dual' }, { containerId: 'ctr-dual-3' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.ips.map((i: { family: number }) => i.family), [4, 6]);
  });

  test('a DEL of a live pod is a sandbox restart: the IP stays and moves to the new sandbox', async () => {
    await cluster.pod({ name: 'restarts', node: 'node-1' });
    const first = await add(node1, { name: 'restarts' }, { containerId: 'sandbox-1' });
    const del = await node1.call('POST', '/v1/release', { containerId: 'sandbox-1', ifname: 'eth0' });
    assert.deepEqual(del.body.released, []);
    const second = await add(node1, { name: 'restarts' }, { containerId: 'sandbox-2' });
    assert.deepEqual(addresses(second), addresses(first));
    const rec = cluster.allocations().find((a) => `${a.ip}/24` === addresses(first)[0]);
    assert.equal(rec?.owner?.['containerId'], 'sandbox-2');
  });

  test('a DEL of a deleted pod releases its IP', async () => {
    await cluster.pod({ name: 'goes-away', node: 'node-1' });
    const res = await add(node1, { name: 'goes-away' });
    await cluster.deletePod('default', 'goes-away');
    const del = await node1.call('POST', '/v1/release', { containerId: 'ctr-goes-away-eth0', ifname: 'eth0' });
    assert.deepEqual(del.body.released.map((r: { ip: string }) => `${r.ip}/24`), addresses(res));
    assert.equal(cluster.allocations().find((a) => `${a.ip}/24` === addresses(res)[0])?.state, 'released');
  });

  test('StatefulSet pod keeps its IP when re-created on another node; scaling below the ordinal releases it', async () => {
    await cluster.statefulSet('default', 'web', 1);
    const annotations = { 'ipam.tidepool.dev/ippool': '{"ipv4":["sts-v4"]}' };
    await cluster.pod({ name: 'web-0', node: 'node-1', owner: { kind: 'StatefulSet', name: 'web' }, annotations });
    const first = await add(node1, { name: 'web-0' }, { containerId: 'web-0-a' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    // The pod is deleted (evicted, node drained); kubelet tears the sandbox down.
    await cluster.deletePod('default', 'web-0');
    const del = await node1.call('POST', '/v1/release', { containerId: 'web-0-a', ifname: 'eth0' });
    assert.deepEqual(del.body.released, [], 'the StatefulSet still wants ordinal 0');
    await cluster.deletePod('default', 'web-0', true);
    // Another pod takes an IP meanwhile: it must not get web-0's.
    await cluster.pod({ name: 'bystander', node: 'node-1', annotations });
    assert.notDeepEqual(addresses(await add(node1, { name: 'bystander' })), addresses(first));
    const uid = await cluster.pod({ name: 'web-0', node: 'node-2', owner: { kind: 'StatefulSet', name: 'web' }, annotations });
    const second = await add(node2, { name: 'web-0', uid }, { containerId: 'web-0-b' });
    assert.deepEqual(addresses(second), addresses(first), 'same IP on the new node');
    const rec = cluster.allocations().find((a) => `${a.ip}/24` === addresses(first)[0]);
    assert.deepEqual([rec?.owner?.['node'], rec?.owner?.['podUid']], ['node-2', uid]);
    // Scale down below the ordinal: the pod goes and its DEL releases the IP.
    await cluster.scaleStatefulSet('default', 'web', 0);
    await cluster.deletePod('default', 'web-0');
    const last = await node2.call('POST', '/v1/release', { containerId: 'web-0-b', ifname: 'eth0' });
    assert.deepEqual(last.body.released.map((r: { ip: string }) => `${r.ip}/24`), addresses(first));
  });

  test('KubeVirt: a VM keeps its IP across VMI restarts and releases it when the VM is deleted', async () => {
    cluster.server.registerKind({ group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine', namespaced: true, statusSubresource: false });
    await cluster.rest.create('/apis/kubevirt.io/v1/namespaces/default/virtualmachines', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm1', namespace: 'default' }, spec: {} });
    const annotations = { 'ipam.tidepool.dev/ippool': '{"ipv4":["sts-v4"]}' };
    const labels = { 'vm.kubevirt.io/name': 'vm1' };
    const owner = { kind: 'VirtualMachineInstance', name: 'vm1', apiVersion: 'kubevirt.io/v1' };
    await cluster.pod({ name: 'virt-launcher-vm1-aaaaa', node: 'node-1', labels, annotations, owner });
    const first = await add(node1, { name: 'virt-launcher-vm1-aaaaa' }, { containerId: 'vm1-a' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    await cluster.deletePod('default', 'virt-launcher-vm1-aaaaa', true);
    assert.deepEqual((await node1.call('POST', '/v1/release', { containerId: 'vm1-a', ifname: 'eth0' })).body.released, [], 'the VM still exists');
    await cluster.pod({ name: 'virt-launcher-vm1-bbbbb', node: 'node-2', labels, annotations, owner });
    const second = await add(node2, { name: 'virt-launcher-vm1-bbbbb' }, { containerId: 'vm1-b' });
    assert.deepEqual(addresses(second), addresses(first), 'the restarted VMI gets the same IP');
    await cluster.rest.delete('/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm1');
    await cluster.deletePod('default', 'virt-launcher-vm1-bbbbb', true);
    const del = await node2.call('POST', '/v1/release', { containerId: 'vm1-b', ifname: 'eth0' });
    assert.deepEqual(del.body.released.map((r: { ip: string }) => `${r.ip}/24`), addresses(first));
  });

  test('unknown pools and interfaces the annotation does not serve are refused, naming pod and annotation', async () => {
    await cluster.pod({ name: 'unknown-pool', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["no-such-pool"]}' } });
    const unknown = await add(node1, { name: 'unknown-pool' });
    assert.equal(unknown.body.error.code, 'POOL_NOT_FOUND');
    assert.match(unknown.body.error.message, /^pod default\/unknown-pool: annotation ipam\.tidepool\.dev\/ippool: ipv4\[0\]: pool "no-such-pool" does not exist/);
    await cluster.pod({ name: 'no-net2', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippools': '[{"interface":"eth0","ipv4":["annot-v4"]}]' } });
    const net2 = await add(node1, { name: 'no-net2' }, { ifname: 'net2' });
    assert.equal(net2.body.error.code, 'INVALID_ANNOTATION');
    assert.match(net2.body.error.message, /^pod default\/no-net2: annotation ipam\.tidepool\.dev\/ippools has no entry for interface net2/);
    assert.equal(cluster.allocations().filter((a) => a.owner && ['unknown-pool', 'no-net2'].includes(String(a.owner['podName']))).length, 0);
  });

  test('reserved IPs are never handed out', async () => {
    await cluster.pod({ name: 'reserved-a', node: 'node-1' });
    await cluster.pod({ name: 'reserved-b', node: 'node-1' });
    assert.deepEqual(addresses(await add(node1, { name: 'reserved-a' }, { ipv4Pools: ['reserved-v4'] })), ['10.17.0.12/24']);
    const full = await add(node1, { name: 'reserved-b' }, { ipv4Pools: ['reserved-v4'] });
    assert.equal(full.body.error.code, 'POOL_EXHAUSTED');
  });

  test('after the API server drops every watch, the agent relists and serves a pool created meanwhile', async () => {
    assert.ok(cluster.server.dropWatches({ abrupt: true }) > 0, 'the agents were watching');
    await cluster.pool('late-pool', { subnet: '10.18.0.0/24', ips: ['10.18.0.10-10.18.0.19'] });
    await cluster.pod({ name: 'late', node: 'node-1' });
    let res = await add(node1, { name: 'late' }, { ipv4Pools: ['late-pool'] });
    for (let i = 0; i < 100 && res.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      res = await add(node1, { name: 'late' }, { ipv4Pools: ['late-pool'] });
    }
    assert.match(addresses(res)[0] ?? '', /^10\.18\.0\.1\d\/24$/);
  });

  test("a full pool: another node's ADD waits, and takes the IP node-1's DEL frees, learned from the watch", async () => {
    await cluster.pool('one-ip', { subnet: '10.19.0.0/24', ips: ['10.19.0.10'] });
    await cluster.node('node-3');
    const node3 = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'node-3', args: ['--log-level', 'debug', '--exhausted-wait', '8s'] });
    try {
      await cluster.pod({ name: 'holder', node: 'node-1' });
      let held = await add(node1, { name: 'holder' }, { ipv4Pools: ['one-ip'] });
      for (let i = 0; i < 100 && held.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        held = await add(node1, { name: 'holder' }, { ipv4Pools: ['one-ip'] });
      }
      assert.deepEqual(addresses(held), ['10.19.0.10/24']);
      await cluster.pod({ name: 'waiter', node: 'node-3' });
      const waiting = add(node3, { name: 'waiter' }, { ipv4Pools: ['one-ip'] });
      // Free the IP only once node-3 is known to be waiting for it.
      for (let i = 0; i < 400 && !node3.logs.some((l) => l.includes('pools full: waiting for an IP to come free')); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(node3.logs.some((l) => l.includes('pools full: waiting for an IP to come free')), `node-3 waits: ${node3.logs.slice(-5).join('\n')}`);
      await cluster.deletePod('default', 'holder');
      const del = await node1.call('POST', '/v1/release', { containerId: 'ctr-holder-eth0', ifname: 'eth0' });
      assert.equal(del.body.released.length, 1);
      const res = await waiting;
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(addresses(res), ['10.19.0.10/24']);
      const line = node3.logs.find((l) => l.includes('allocated after waiting for a free IP'));
      assert.ok(line, 'node-3 says it waited');
      // Long before its 8 s deadline: node-3 learned of the release from its IPAllocation watch.
      assert.ok((JSON.parse(line) as { waitedMs: number }).waitedMs < 8_000, line);
    } finally {
      await node3.cleanup();
    }
  });

  test('the real plugin passes the pod from CNI_ARGS and gets its IP', async () => {
    await cluster.pod({ name: 'via-plugin', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["annot-v4"]}' } });
    const conf = { cniVersion: '1.0.0', name: 'underlay', type: 'macvlan', ipam: { type: 'tidepool', socket: node1.socket } };
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'plugin-ctr', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=via-plugin' };
    const res = await execPlugin(`${process.cwd()}/dist/cni/tidepool`, env, conf);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.json.ips[0].address, /^10\.12\.0\.\d+\/24$/);
  });
});

describe('agent readiness in Kubernetes mode', () => {
  test('/readyz is 503 until the Node object exists, then 200', async () => {
    const cluster = await startCluster();
    const agent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'late-node', args: ['--metrics-listen', '127.0.0.1:0'] });
    try {
      const address = await waitForMetricsAddress(agent);
      const readyz = async () => (await fetch(`http://${address}/readyz`)).status;
      assert.equal(await readyz(), 503);
      await cluster.node('late-node');
      let status = await readyz();
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 20));
        status = await readyz();
      }
      assert.equal(status, 200);
    } finally {
      await agent.cleanup();
      await cluster.close();
    }
  });
});

describe('starting agents on a slow machine', () => {
  test('startKubeAgent waits for the agent to be ready, not a fixed few seconds', async () => {
    const cluster = await startCluster();
    // An API server that takes 6 s to answer the first IPAllocation list, as a loaded machine can: the agent opens
    // its socket only once its caches are synced.
    const slow = cluster.server.injectFault({ verb: 'list', resource: 'ipallocations', delayMs: 6_000, times: 1 });
    try {
      await cluster.node('slow-node');
      const agent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'slow-node' });
      try {
        assert.equal(slow.hits, 1);
        assert.equal((await agent.call('GET', '/healthz')).status, 200);
      } finally {
        await agent.cleanup();
      }
    } finally {
      await cluster.close();
    }
  });
});

describe('a pool created a moment before its pod', () => {
  test("an ADD waits for the IPPool watch to bring a pool the API server has; a pool nobody has fails at once", async () => {
    // Every watch event 1.5 s behind its write, as on a loaded API server: the pool is stored, its event still on the way.
    const cluster = await startCluster({ watchLagMs: 1_500 });
    try {
      await cluster.node('lagging-node');
      const agent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'lagging-node' });
      try {
        await cluster.pool('fresh-v4', { subnet: '10.60.0.0/24', ips: ['10.60.0.10-10.60.0.19'] });
        await cluster.pod({ name: 'early', node: 'lagging-node', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["fresh-v4"]}' } });
        const ok = await agent.call('POST', '/v1/allocate', { containerId: 'c-early', ifname: 'eth0', netns: '', pod: { namespace: 'default', name: 'early' } });
        assert.equal(ok.status, 200, JSON.stringify(ok.body));
        assert.match(JSON.stringify(ok.body), /10\.60\.0\.1\d/);

        await cluster.pod({ name: 'typo', node: 'lagging-node', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["no-such-pool"]}' } });
        const missing = await agent.call('POST', '/v1/allocate', { containerId: 'c-typo', ifname: 'eth0', netns: '', pod: { namespace: 'default', name: 'typo' } });
        assert.equal(missing.status, 404, JSON.stringify(missing.body));
        assert.equal((missing.body as { error?: { code?: string } }).error?.code, 'POOL_NOT_FOUND');
      } finally {
        await agent.cleanup();
      }
    } finally {
      await cluster.close();
    }
  });
});
