// `tidepool controller` as real processes (dist/tidepool.mjs) against the
// fake API server: one leader among two replicas, hand-over on SIGTERM,
// the webhook and pool status served by the built binary.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/agent-process.ts';
import { startControllerProcess, type ControllerProcess } from './helpers/controller-process.ts';
import { waitUntilReady } from './helpers/readiness.ts';
import { createFakeApiServer, type FakeApiServer } from './apiserver/server.ts';
import { applyAsAdmin, chartDenials, installChartRbac, renderChartObjects, type ChartIdentities } from './helpers/chart-rbac.ts';

const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';
const ALLOCS = '/apis/tidepool.dev/v1alpha1/ipallocations';
const LEASE = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/tidepool-controller';

let server: FakeApiServer;
let dir: string;
let kubeconfig: string;
let identities: ChartIdentities;
const spawned: Array<{ proc: ChildProcess; exited: Promise<number | null> }> = [];

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, { method, headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminToken}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}

/** The `msg` of a JSON log line ('' for anything else on stderr). */
function said(line: string): string {
  try {
    return String(JSON.parse(line).msg);
  } catch {
    return '';
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting until ${what}`);
}

function startController(identity: string): Promise<ControllerProcess> {
  // The default lease (15 s) with a short retry period: the hand-over on SIGTERM must beat the lease's expiry by far.
  const args = ['--gc', 'off', '--retry-period', '250ms', '--log-level', 'debug'];
  // Registered before waiting, so after() kills it even if it never comes up.
  return startControllerProcess({ kubeconfig, identity, args, onSpawn: (p) => spawned.push(p) });
}

before(async () => {
  server = await createFakeApiServer({ authentication: true });
  dir = mkdtempSync(join(tmpdir(), 'tidepool-controller-'));
  // The replicas are the chart's controller account; the test is the administrator.
  const installed = await installChartRbac(server, dir);
  identities = installed.identities;
  kubeconfig = installed.kubeconfigs.controller;
  // The chart's own webhook configuration, with the empty caBundle it ships.
  await applyAsAdmin(server, renderChartObjects().filter((o) => o.kind === 'ValidatingWebhookConfiguration'));
});

after(async () => {
  for (const p of spawned) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all(spawned.map((p) => p.exited));
  const refused = chartDenials(server, identities);
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(refused, [], 'RBAC refused none of the replicas\' requests');
});

describe('tidepool controller (real processes)', () => {
  let a: ControllerProcess;
  let b: ControllerProcess;
  let leader: ControllerProcess;
  let standby: ControllerProcess;

  test('of two replicas exactly one leads, by the leader gauge and the Lease', async () => {
    [a, b] = await Promise.all([startController('ctrl-a'), startController('ctrl-b')]);
    await until('one leads', async () => (await a.leaderGauge()) === 1 || (await b.leaderGauge()) === 1);
    // Several renewals later it is still exactly one.
    await new Promise((r) => setTimeout(r, 1_000));
    const gauges = [await a.leaderGauge(), await b.leaderGauge()];
    assert.deepEqual([...gauges].sort(), [0, 1]);
    [leader, standby] = gauges[0] === 1 ? [a, b] : [b, a];
    assert.equal((await call('GET', LEASE)).body.spec.holderIdentity, leader.identity);
    assert.ok(leader.logs.some((l) => said(l) === 'started leading'));
    assert.ok(!standby.logs.some((l) => said(l) === 'started leading'));
  });

  test('both replicas are ready once their CA is in caBundle, and both serve the webhook', async () => {
    for (const p of [a, b]) await waitUntilReady(`${p.identity} /readyz`, p.proc, () => p.logs.join('\n'), async () => (await fetch(`http://${p.metrics}/readyz`)).status === 200 || undefined);
    const cfg = (await call('GET', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tidepool')).body;
    const pems = Buffer.from(cfg.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8').match(/BEGIN CERTIFICATE/g) ?? [];
    assert.equal(pems.length, 2);
    // The Service sends the API server's calls to the standby: every replica answers, not only the leader.
    server.routeService({ namespace: 'kube-system', name: 'tidepool-controller-webhook' }, standby.webhook);
    assert.equal((await call('POST', POOLS, { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.19'] } })).status, 201);
    const overlap = await call('POST', POOLS, { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan2' }, spec: { subnet: '10.6.0.0/24' } });
    assert.equal(overlap.status, 422);
    assert.equal(overlap.body.message, 'admission webhook "validate.tidepool.dev" denied the request: pools "lan" and "lan2" overlap: both hold 10.6.0.10-10.6.0.19');
  });

  test('the leader keeps pool status counts in step with allocations', async () => {
    for (const n of [10, 11, 12]) {
      const ip = `10.6.0.${n}`;
      const body = {
        apiVersion: 'tidepool.dev/v1alpha1',
        kind: 'IPAllocation',
        metadata: { name: `lan.${ip}`, labels: { 'tidepool.dev/pool': 'lan', 'tidepool.dev/node': 'n1', 'tidepool.dev/state': 'allocated' } },
        spec: { pool: 'lan', ip, owner: { node: 'n1', containerId: `c${n}`, ifname: 'eth0', allocatedAt: '2025-01-02T03:04:05.678Z', podNamespace: 'default', podName: `web-${n}` } },
      };
      assert.equal((await call('POST', ALLOCS, body)).status, 201);
    }
    await until('status shows 3 of 10', async () => {
      const s = (await call('GET', `${POOLS}/lan`)).body.status;
      return s?.totalIPCount === '10' && s?.allocatedIPCount === 3;
    });
    assert.equal((await call('DELETE', `${ALLOCS}/lan.10.6.0.12`)).status, 200);
    await until('status shows 2', async () => (await call('GET', `${POOLS}/lan`)).body.status?.allocatedIPCount === 2);
  });

  test('SIGTERM: the leader releases the lease and exits 0; the standby takes over well before the lease would expire', async () => {
    const stoppedAt = Date.now();
    leader.proc.kill('SIGTERM');
    assert.equal(await leader.exited, 0);
    assert.ok(leader.logs.some((l) => said(l) === 'released the leader lease'));
    await until('the standby leads', async () => (await standby.leaderGauge()) === 1);
    const tookMs = Date.now() - stoppedAt;
    assert.ok(tookMs < 7_500, `hand-over took ${tookMs} ms; the lease lasts 15 s`);
    assert.equal((await call('GET', LEASE)).body.spec.holderIdentity, standby.identity);
    // The new leader writes status too.
    assert.equal((await call('DELETE', `${ALLOCS}/lan.10.6.0.11`)).status, 200);
    await until('status follows under the new leader', async () => (await call('GET', `${POOLS}/lan`)).body.status?.allocatedIPCount === 1);
  });
});

describe('tidepool controller flags', () => {
  test('a bad flag value exits 2 naming the flag', async () => {
    const r = await runCli(['controller', '--namespace', 'kube-system', '--webhook-listen', 'nonsense']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'tidepool: --webhook-listen: "nonsense" must be HOST:PORT or off (INVALID_CONFIG)\n');
  });
  test('--help prints the flags with their defaults', async () => {
    const r = await runCli(['controller', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /--lease-name NAME .*default tidepool-controller/);
    assert.match(r.stdout, /--webhook-listen H:P .*default 0\.0\.0\.0:9443/);
  });
});
