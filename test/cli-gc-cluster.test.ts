// `tidepool gc --cluster`: the dry run reads the cluster and changes nothing;
// the plain form asks the leader for a scan through its Lease. It runs as the
// controller's ServiceAccount (in a controller pod), under the chart's RBAC.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/agent-process.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';

describe('tidepool gc --cluster', () => {
  let cluster: TestCluster;
  const allocation = (ip: string, pod: string, uid: string) => ({
    apiVersion: 'tidepool.dev/v1alpha1',
    kind: 'IPAllocation',
    metadata: { name: `lan.${ip}`, labels: { 'tidepool.dev/pool': 'lan', 'tidepool.dev/node': 'node-1', 'tidepool.dev/state': 'allocated' } },
    spec: { pool: 'lan', ip, owner: { podNamespace: 'default', podName: pod, podUid: uid, node: 'node-1', containerId: `ctr-${pod}`, ifname: 'eth0', allocatedAt: '2026-11-28T10:00:00.000Z' } },
  });

  before(async () => {
    cluster = await startCluster();
    await cluster.node('node-1');
    await cluster.pool('lan', { subnet: '10.30.0.0/24' });
    const uid = await cluster.pod({ name: 'alive', node: 'node-1' });
    await cluster.rest.create('/apis/tidepool.dev/v1alpha1/ipallocations', allocation('10.30.0.5', 'alive', uid));
    await cluster.rest.create('/apis/tidepool.dev/v1alpha1/ipallocations', allocation('10.30.0.6', 'gone', 'uid-gone'));
  });
  after(() => cluster.close());

  test('--dry-run lists the leaked IP with its reason, not the live one, and changes nothing', async () => {
    const before = JSON.stringify(cluster.allocations());
    const res = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller, '--dry-run']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^IP\s+POOL\s+POD\s+NODE\s+VERDICT\n10\.30\.0\.6\s+lan\s+default\/gone\s+node-1\s+reclaim now: pod-deleted\n1 of 2 allocations \(dry run: nothing was changed\)\n$/);
    const all = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller, '--dry-run', '--all', '--json']);
    const entries = JSON.parse(all.stdout) as Array<{ ip: string; verdict: { action: string; why?: string } }>;
    assert.deepEqual(entries.map((e) => [e.ip, e.verdict.action]).sort(), [['10.30.0.5', 'keep'], ['10.30.0.6', 'release']]);
    assert.equal(JSON.stringify(cluster.allocations()), before);
  });

  test('without --dry-run it stamps the scan request on the leader Lease', async () => {
    await cluster.rest.create('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'tidepool-controller', namespace: 'kube-system' },
      spec: { holderIdentity: 'controller-a', leaseDurationSeconds: 15 },
    });
    const res = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'asked the leader (controller-a) for a garbage collection scan now\n');
    const lease = await cluster.rest.get<{ metadata: { annotations?: Record<string, string> } }>('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tidepool-controller');
    assert.match(lease.metadata.annotations?.['tidepool.dev/scan-requested-at'] ?? '', /^\d{4}-\d\d-\d\dT/);
  });

  test('an identity the chart does not let patch the Lease is told so (STORE_REFUSED naming the 403), not that no controller runs', async () => {
    const refused = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.agent]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /leases\.coordination\.k8s\.io "tidepool-controller" is forbidden: User "system:serviceaccount:kube-system:tidepool-agent" cannot patch resource "leases"/);
    assert.match(refused.stderr, /\(STORE_REFUSED\)\n$/);
    assert.doesNotMatch(refused.stderr, /is tidepool controller running/);
    assert.equal(cluster.server.takeDenials().length, 1, 'refused by RBAC, once');
  });

  test('a missing lease and standalone-only flags give precise errors', async () => {
    // The chart lets the controller's account patch its own Lease only; an administrator may try any.
    const other = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller, '--lease-name', 'nope']);
    assert.match(other.stderr, /leases\.coordination\.k8s\.io "nope" is forbidden: .* cannot patch resource "leases" .* \(STORE_REFUSED\)/);
    assert.equal(cluster.server.takeDenials().length, 1);
    const missing = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.admin, '--lease-name', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot reach the controller's lease kube-system\/nope: .* not found .*\(NOT_FOUND\)/);
    const wrong = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller, '--no-grace']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--no-grace applies to the standalone agent/);
  });
});
