// The chart's RBAC proven by traffic, both ways. A real agent, a real
// controller (webhook on) and `tidepool gc --cluster` run as the chart's
// ServiceAccounts through a representative life: pools and reservations
// through the webhook, ADDs and DELs (plain, StatefulSet, KubeVirt), an
// invalid annotation's Event, every kind of reclaim that makes the
// controller read something afresh (lost DEL, Terminating pod, StatefulSet
// scaled down, VM deleted, pool deleted), pool status, leader election,
// caBundle injection, a scan request and a report. Then:
// - RBAC refused none of their requests (the chart grants enough);
// - every rule of the chart's roles was needed by some request they made:
//   without it, that request would have been refused (so removing any rule
//   fails this test, naming the request);
// - every grant no request used is one listed here, with its reason;
// - what the chart does not grant is refused and changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { AuthorizationAttributes } from '../src/apiserver/authorization.ts';
import { builtinKinds } from '../src/apiserver/builtin-kinds.ts';
import type { KubeObject } from '../src/apiserver/kinds.ts';
import { rbacAuthorizer } from '../src/apiserver/rbac/authorizer.ts';
import { storeBootstrapPolicy } from '../src/apiserver/rbac/bootstrap.ts';
import { rbacKinds } from '../src/apiserver/rbac/kinds.ts';
import type { PolicyRule } from '../src/apiserver/rbac/rules.ts';
import { ADMIN, createApiServer } from '../src/apiserver/server.ts';
import { serviceAccountKind } from '../src/apiserver/service-accounts.ts';
import { createKubeRest, KubeApiError, type KubeRest } from '../src/k8s/rest.ts';
import { runCli, startKubeAgent, type AgentProcess } from './helpers/agent-process.ts';
import { applyAsAdmin, chartRbacObjects, renderChartObjects } from './helpers/chart-rbac.ts';
import { startCluster, type TestCluster } from './helpers/cluster.ts';
import { startControllerProcess, type ControllerProcess } from './helpers/controller-process.ts';

const VM_KIND = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines', kind: 'VirtualMachine', namespaced: true };
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tidepool-controller';
const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';

/**
 * Grants of the chart that the life above may not use, with why they stay.
 * A grant missing here that no request used is one the chart should not
 * give; a change here is a change to what tidepool asks of a cluster.
 */
const UNUSED_GRANTS = [
  // Read access is granted as get, list and watch together; the agent reads these through its watch caches only.
  'agent: /namespaces get',
  'agent: /nodes get',
  'agent: tidepool.dev/ippools get',
  'agent: tidepool.dev/reservedips get',
  // A store reads one IPAllocation afresh only after it lost a write race, which this life does not stage.
  'agent: tidepool.dev/ipallocations get',
  'controller: tidepool.dev/ipallocations get',
];

let cluster: TestCluster;
let agent: AgentProcess | undefined;
let controller: ControllerProcess | undefined;

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}; controller log:\n${controller?.logs.slice(-20).join('\n')}`);
    await delay(50);
  }
}

const add = (pod: string, containerId: string) => agent!.call('POST', '/v1/allocate', { containerId, ifname: 'eth0', netns: '', network: 'underlay', pod: { namespace: 'default', name: pod } });
/** A graceful delete: the pod is Terminating for longer than this test lives. */
const terminate = (pod: string) => cluster.rest.delete(`/api/v1/namespaces/default/pods/${pod}`, { gracePeriodSeconds: 600 });
const release = (containerId: string) => agent!.call('POST', '/v1/release', { containerId, ifname: 'eth0' });

/** The life every grant is measured against. */
async function representativeLife(): Promise<void> {
  await cluster.node('node-1');
  const annotations = { 'ipam.tidepool.dev/ippool': '{"ipv4":["lan"]}' };
  // Through the webhook, which reads pools and allocations to decide.
  await cluster.pool('lan', { subnet: '10.30.0.0/24', ips: ['10.30.0.10-10.30.0.50'], default: true });
  await cluster.reserved('routers', ['10.30.0.1']);
  agent = await startKubeAgent({ kubeconfig: cluster.kubeconfigs.agent, node: 'node-1' });
  // A plain pod, and its DEL while it is Terminating, as kubelet orders them (after a force delete, the
  // controller could reclaim first and the agent's release would write nothing).
  await cluster.pod({ name: 'web', node: 'node-1' });
  assert.equal((await add('web', 'c-web')).status, 200);
  await terminate('web');
  assert.equal((await release('c-web')).status, 200);
  await cluster.deletePod('default', 'web', true);
  // An invalid annotation: the agent posts an Event.
  await cluster.pod({ name: 'broken', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{' } });
  assert.equal((await add('broken', 'c-broken')).status, 400);
  // A StatefulSet pod, whose DEL reads the StatefulSet.
  await cluster.statefulSet('default', 'db', 1);
  await cluster.pod({ name: 'db-0', node: 'node-1', owner: { kind: 'StatefulSet', name: 'db' }, annotations });
  assert.equal((await add('db-0', 'c-db-0')).status, 200);
  await terminate('db-0');
  assert.equal((await release('c-db-0')).status, 200);
  await cluster.deletePod('default', 'db-0', true);
  // A KubeVirt VM's pod, whose DEL reads the VM.
  await cluster.rest.create('/apis/kubevirt.io/v1/namespaces/default/virtualmachines', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm1', namespace: 'default' }, spec: {} });
  const owner = { kind: 'VirtualMachineInstance', name: 'vm1', apiVersion: 'kubevirt.io/v1' };
  await cluster.pod({ name: 'virt-launcher-vm1-x', node: 'node-1', labels: { 'vm.kubevirt.io/name': 'vm1' }, annotations, owner });
  assert.equal((await add('virt-launcher-vm1-x', 'c-vm1')).status, 200);
  await terminate('virt-launcher-vm1-x');
  assert.equal((await release('c-vm1')).status, 200);
  await cluster.deletePod('default', 'virt-launcher-vm1-x', true);
  // A DEL that never comes: the controller reclaims the IP and posts Events.
  await cluster.pod({ name: 'lost', node: 'node-1' });
  const lost = await add('lost', 'c-lost');
  assert.equal(lost.status, 200);
  await cluster.deletePod('default', 'lost', true);
  await until('the controller reclaimed the lost pod\'s IP', () => !cluster.allocations().some((a) => a.owner?.['podName'] === 'lost'));
  await controllerReadsAfresh();
  await until('the pool has its status', async () => (await cluster.rest.get<{ status?: { totalIPCount?: string } }>(`${POOLS}/lan`)).status?.totalIPCount === '41');
  // An operator asks for a scan, and for a report, from a controller pod.
  for (const args of [[], ['--dry-run']]) {
    const r = await runCli(['gc', '--cluster', '--kubeconfig', cluster.kubeconfigs.controller, ...args]);
    assert.equal(r.code, 0, r.stderr);
  }
}

const heldBy = (pod: string) => cluster.allocations().some((a) => a.owner?.['podName'] === pod);

/** Reclaims whose reasons rest on a Node, a StatefulSet, a VM or a pool read afresh (src/controller/gc.ts readFreshGcView). */
async function controllerReadsAfresh(): Promise<void> {
  // The IPs the agent kept at DEL for the StatefulSet's ordinal and the VM.
  await cluster.scaleStatefulSet('default', 'db', 0);
  await until('the scaled-down ordinal\'s IP is reclaimed', () => !heldBy('db-0'));
  await cluster.rest.delete('/apis/kubevirt.io/v1/namespaces/default/virtualmachines/vm1');
  await until('the deleted VM\'s IP is reclaimed', () => !heldBy('virt-launcher-vm1-x'));
  // A pod stuck Terminating: its node is read.
  await cluster.pod({ name: 'stuck', node: 'node-1' });
  assert.equal((await add('stuck', 'c-stuck')).status, 200);
  await cluster.rest.delete('/api/v1/namespaces/default/pods/stuck', { gracePeriodSeconds: 1 });
  await until('the Terminating pod\'s IP is reclaimed', () => !heldBy('stuck'));
  // A pool deleted under an allocation, which only a cluster without the webhook allows: the pool is read.
  await cluster.pool('spare', { subnet: '10.31.0.0/24' });
  await cluster.pod({ name: 'orphan', node: 'node-1', annotations: { 'ipam.tidepool.dev/ippool': '{"ipv4":["spare"]}' } });
  const orphanAdd = await add('orphan', 'c-orphan');
  assert.equal(orphanAdd.status, 200, JSON.stringify(orphanAdd.body));
  const vwc = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tidepool';
  await cluster.rest.delete(vwc);
  await cluster.rest.delete(`${POOLS}/spare`);
  await until('the deleted pool\'s IP is reclaimed', () => !heldBy('orphan'));
}

before(async () => {
  cluster = await startCluster({ kinds: [VM_KIND] });
  await applyAsAdmin(cluster.server, renderChartObjects().filter((o) => o.kind === 'ValidatingWebhookConfiguration'));
  controller = await startControllerProcess({ kubeconfig: cluster.kubeconfigs.controller, identity: 'ctrl-0', args: ['--gc-reclaim-cooldown', '0s'] });
  cluster.server.routeService({ namespace: 'kube-system', name: 'tidepool-controller-webhook' }, controller.webhook);
  await until('the controller is ready and leads', async () => (await fetch(`http://${controller!.metrics}/readyz`)).status === 200 && (await controller!.leaderGauge()) === 1);
  await representativeLife();
});

after(async () => {
  await agent?.cleanup();
  await controller?.stop();
  await cluster?.close();
});

/** Who a request is, as the chart names its accounts. */
function component(a: AuthorizationAttributes): 'agent' | 'controller' | undefined {
  if (a.user.username === 'system:serviceaccount:kube-system:tidepool-agent') return 'agent';
  if (a.user.username === 'system:serviceaccount:kube-system:tidepool-controller') return 'controller';
  return undefined;
}

/** An RBAC authorizer over the bootstrap policy and `objects` (the chart's RBAC, perhaps changed). */
async function authorizerFor(objects: KubeObject[]) {
  const server = createApiServer({ now: () => new Date(), kinds: [...builtinKinds(), serviceAccountKind(), ...rbacKinds()] });
  storeBootstrapPolicy(server);
  for (const o of objects) {
    const plural = `${o.kind!.toLowerCase()}s`;
    const [group, version] = o.apiVersion!.includes('/') ? o.apiVersion!.split('/') : ['', o.apiVersion!];
    const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
    const path = group ? `/apis/${group}/${version}${ns}/${plural}` : `/api/${version}${ns}/${plural}`;
    const res = await server.router.handle({ method: 'POST', path, query: new URLSearchParams(), contentType: 'application/json', body: { value: structuredClone(o) }, user: ADMIN });
    assert.ok(res.kind === 'response' && res.status === 201, `${o.kind} ${o.metadata.name}`);
  }
  return rbacAuthorizer(server.store);
}

const describeRequest = (a: AuthorizationAttributes): string =>
  a.info.isResourceRequest
    ? `${component(a)} ${String(a.info.verb)} ${a.info.apiGroup}/${a.info.resource}${a.info.subresource ? `/${a.info.subresource}` : ''}${a.name ? ` "${a.name}"` : ''}${a.info.namespace ? ` in ${a.info.namespace}` : ''}`
    : `${component(a)} ${String(a.info.verb)} ${a.info.path}`;

describe("the chart's RBAC, proven by traffic", () => {
  test('RBAC refused none of the requests the agent, the controller and gc --cluster made', () => {
    assert.deepEqual(cluster.server.denials(), []);
    assert.ok(cluster.server.allowedRequests().filter((a) => component(a)).length > 30, 'the life made requests as both accounts');
  });

  test('every rule of the chart was needed: without it, a request tidepool made would have been refused', async () => {
    const requests = cluster.server.allowedRequests().filter((a) => component(a) !== undefined);
    const objects = chartRbacObjects();
    for (const [i, role] of objects.entries()) {
      const rules = (role['rules'] as PolicyRule[] | undefined) ?? [];
      for (let r = 0; r < rules.length; r++) {
        const without = objects.map((o, j) => (j === i ? { ...o, rules: rules.filter((_, k) => k !== r) } : o));
        const authorize = await authorizerFor(without);
        const refused = requests.filter((a) => !(authorize(a) as { allowed: boolean }).allowed);
        assert.ok(refused.length > 0, `${role.kind} ${role.metadata.name} rule ${r} (${JSON.stringify(rules[r])}) was needed by no request`);
      }
    }
  });

  test('every grant no request used is a known one', () => {
    const requests = cluster.server.allowedRequests();
    const unused: string[] = [];
    for (const role of chartRbacObjects().filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      const who = role.metadata.name === 'tidepool-agent' ? 'agent' : 'controller';
      for (const rule of (role['rules'] as PolicyRule[] | undefined) ?? []) {
        for (const group of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            for (const verb of rule.verbs ?? []) {
              const [res, sub] = resource.split('/') as [string, string?];
              const used = requests.some(
                (a) => component(a) === who && a.info.verb === verb && a.info.apiGroup === group && a.info.resource === res && (a.info.subresource ?? undefined) === sub && (!rule.resourceNames || rule.resourceNames.includes(a.name ?? '')),
              );
              if (!used) unused.push(`${who}: ${group}/${resource} ${verb}`);
            }
          }
        }
      }
    }
    // Races may or may not happen in a run, so a known grant may turn out used.
    assert.deepEqual(unused.filter((g) => !UNUSED_GRANTS.includes(g)), []);
  });
});

describe('what the chart does not grant is refused, and changes nothing', () => {
  let asAgent: KubeRest;
  let asController: KubeRest;
  before(async () => {
    const client = async (path: string) => {
      const kc = new KubeConfig();
      kc.loadFromFile(path);
      return createKubeRest(kc);
    };
    asAgent = await client(cluster.kubeconfigs.agent);
    asController = await client(cluster.kubeconfigs.controller);
  });
  after(() => {
    asAgent.close();
    asController.close();
  });

  async function refused(p: Promise<unknown>, message: string): Promise<void> {
    const err = await p.then(
      () => assert.fail('the request was allowed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof KubeApiError, String(err));
    assert.equal(err.status, 403);
    assert.match(err.message, new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  }

  // The agent and the controller keep writing meanwhile, so "nothing changed" is judged object by object.
  const stored = (resource: string, name: string) => cluster.server.objects(resource).find((o) => o.metadata.name === name);

  test('the agent may not delete a pool or an allocation, nor write a pool', async () => {
    const name = cluster.allocations()[0]!.name;
    const [pool, alloc] = [stored('ippools', 'lan'), stored('ipallocations', name)];
    await refused(asAgent.delete(`${POOLS}/lan`), 'ippools.tidepool.dev "lan" is forbidden: User "system:serviceaccount:kube-system:tidepool-agent" cannot delete resource "ippools" in API group "tidepool.dev" at the cluster scope');
    await refused(asAgent.delete(`/apis/tidepool.dev/v1alpha1/ipallocations/${name}`), `cannot delete resource "ipallocations"`);
    await refused(asAgent.patch(`${POOLS}/lan`, { spec: { disable: true } }), 'cannot patch resource "ippools"');
    assert.deepEqual(stored('ippools', 'lan'), pool);
    assert.deepEqual(stored('ipallocations', name), alloc);
    assert.equal(cluster.server.takeDenials().length, 3);
  });

  test('the controller may not write pods, read Secrets, take another Lease or patch another webhook configuration', async () => {
    const webhookConfigs = cluster.server.objects('validatingwebhookconfigurations');
    await refused(asController.create('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'i' }] } }), 'pods is forbidden: User "system:serviceaccount:kube-system:tidepool-controller" cannot create resource "pods" in API group "" in the namespace "default"');
    await refused(asController.list('/api/v1/secrets'), 'cannot list resource "secrets"');
    await refused(asController.patch('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other', { metadata: { labels: { a: 'b' } } }), 'leases.coordination.k8s.io "other" is forbidden');
    await refused(asController.get(`${LEASE.replace('kube-system', 'default')}`), 'in the namespace "default"');
    await refused(asController.delete('/apis/tidepool.dev/v1alpha1/ipallocations/anything'), 'cannot delete resource "ipallocations"');
    await refused(asController.patch('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/other', { webhooks: [] }), 'validatingwebhookconfigurations.admissionregistration.k8s.io "other" is forbidden');
    assert.equal(stored('pods', 'x'), undefined);
    assert.deepEqual(cluster.server.objects('validatingwebhookconfigurations'), webhookConfigs);
    assert.equal(cluster.server.takeDenials().length, 6);
  });
});
