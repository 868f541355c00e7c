// The validating webhook end to end: the chart's ValidatingWebhookConfiguration,
// stored in the fake API server, makes it call the real controller's HTTPS
// endpoint through the chart's Service for every IPPool and ReservedIP write,
// trusting only the CAs the replicas patched into its caBundle.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { planPools } from '../src/ipam/pool.ts';
import { splitPemCertificates } from '../src/controller/ca-bundle-plan.ts';
import { parseControllerArgs, startController, type RunningController } from '../src/controller/main.ts';
import { createLogger } from '../src/util/logger.ts';
import { createFakeApiServer, type FakeApiServer, type KubeObject } from './apiserver/server.ts';
import { applyAsAdmin, chartDenials, installChartRbac, renderChartObjects, type ChartIdentities } from './helpers/chart-rbac.ts';

const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';
const ALLOCS = '/apis/tidepool.dev/v1alpha1/ipallocations';
const RESERVED = '/apis/tidepool.dev/v1alpha1/reservedips';
const WEBHOOK_CONFIG = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/tidepool';
const DENIED = 'admission webhook "validate.tidepool.dev" denied the request: ';

/** The chart's webhook configuration (deploy/tidepool/templates/webhook.yaml, default values), with the empty caBundle it ships. */
const chartWebhookConfiguration = renderChartObjects().find((o) => o.kind === 'ValidatingWebhookConfiguration') as KubeObject & { webhooks: Array<{ clientConfig: { service: Record<string, unknown> }; rules: unknown[] }> };
/** The Service the configuration names, which the test server routes to one replica's webhook port. */
const WEBHOOK_SERVICE = { namespace: 'kube-system', name: 'tidepool-controller-webhook', port: 443 };

const pool = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec });
const allocation = (poolName: string, ip: string, pod?: [string, string]) => ({
  apiVersion: 'tidepool.dev/v1alpha1',
  kind: 'IPAllocation',
  metadata: { name: `${poolName}.${ip}`, labels: { 'tidepool.dev/pool': poolName, 'tidepool.dev/node': 'n1', 'tidepool.dev/state': pod ? 'allocated' : 'released' } },
  spec: pod
    ? { pool: poolName, ip, owner: { node: 'n1', containerId: `c-${ip}`, ifname: 'eth0', allocatedAt: '2025-01-02T03:04:05.678Z', podNamespace: pod[0], podName: pod[1] } }
    : { pool: poolName, ip, releasedAt: '2025-01-02T03:04:05.678Z' },
});

interface Answer {
  status: number;
  body: any;
}

let server: FakeApiServer;
let dir: string;
let kubeconfig: string;
let identities: ChartIdentities;
let controller: RunningController;
const logs: string[] = [];

async function call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<Answer> {
  const res = await fetch(server.url + path, { method, headers: { 'content-type': contentType, authorization: `Bearer ${server.adminToken}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function denial(p: Promise<Answer>, status: number): Promise<string> {
  const r = await p;
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.ok(String(r.body.message).startsWith(DENIED), r.body.message);
  return String(r.body.message).slice(DENIED.length);
}

async function ok(p: Promise<Answer>): Promise<any> {
  const r = await p;
  assert.ok(r.status >= 200 && r.status < 300, `${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

function startReplica(identity: string, args: readonly string[] = []): Promise<RunningController> {
  const config = parseControllerArgs(['--namespace', 'kube-system', '--kubeconfig', kubeconfig, '--webhook-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--identity', identity, '--gc', 'off', ...args]);
  return startController(config, { log: createLogger({ level: 'debug', write: (l) => logs.push(l) }) });
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting until ${what}`);
}

function standaloneError(objs: unknown[]): string {
  try {
    planPools(objs);
  } catch (err) {
    return (err as Error).message;
  }
  return assert.fail('planPools accepted it');
}

before(async () => {
  server = await createFakeApiServer({ authentication: true });
  dir = mkdtempSync(join(tmpdir(), 'tidepool-webhook-'));
  // Every replica is the chart's controller account; the test plays users and the cluster as the administrator.
  const installed = await installChartRbac(server, dir);
  identities = installed.identities;
  kubeconfig = installed.kubeconfigs.controller;
  await applyAsAdmin(server, [chartWebhookConfiguration]);
  controller = await startReplica('replica-a');
  server.routeService(WEBHOOK_SERVICE, controller.webhookAddress!);
  await until('the controller is ready', () => controller.ready());
});

after(async () => {
  await controller?.stop();
  const refused = chartDenials(server, identities);
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(refused, [], 'RBAC refused none of the replicas\' requests');
});

describe('webhook: IPPool', () => {
  test('a valid pool is allowed', async () => {
    await ok(call('POST', POOLS, pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.20'] })));
  });

  test('an overlapping pool is denied naming both pools and the shared IPs, and not stored', async () => {
    const b = pool('b', { subnet: '10.6.0.0/24', ips: ['10.6.0.15-10.6.0.30'] });
    const message = await denial(call('POST', POOLS, b), 422);
    assert.equal(message, 'pools "lan" and "b" overlap: both hold 10.6.0.15-10.6.0.20');
    assert.equal(message, standaloneError([pool('lan', { subnet: '10.6.0.0/24', ips: ['10.6.0.10-10.6.0.20'] }), b]));
    assert.equal((await call('GET', `${POOLS}/b`)).status, 404);
  });

  test('two overlapping pools created back to back: the second is denied (no cache lag)', async () => {
    await ok(call('POST', POOLS, pool('quick-a', { subnet: '10.20.0.0/24' })));
    await denial(call('POST', POOLS, pool('quick-b', { subnet: '10.20.0.0/25' })), 422);
    await ok(call('DELETE', `${POOLS}/quick-a`));
  });

  test('an IP outside the subnet is denied with the standalone message', async () => {
    const bad = pool('bad', { subnet: '10.8.0.0/24', ips: ['10.8.0.10', '10.9.0.1'] });
    const message = await denial(call('POST', POOLS, bad), 422);
    assert.equal(message, 'pool "bad": spec.ips[1] "10.9.0.1" is outside subnet 10.8.0.0/24');
    assert.equal(message, standaloneError([bad]));
  });

  test('removing an IP that a pod holds is denied and nothing changes', async () => {
    await ok(call('POST', ALLOCS, allocation('lan', '10.6.0.12', ['default', 'web-0'])));
    await ok(call('POST', ALLOCS, allocation('lan', '10.6.0.19')));
    const before = await ok(call('GET', `${POOLS}/lan`));
    const narrowed = { ...before, spec: { ...before.spec, ips: ['10.6.0.13-10.6.0.20'] } };
    const message = await denial(call('PUT', `${POOLS}/lan`, narrowed), 403);
    assert.equal(message, 'pool "lan": spec change would drop 10.6.0.12 (held by pod default/web-0); release it first');
    const after = await ok(call('GET', `${POOLS}/lan`));
    assert.deepEqual(after.spec, before.spec);
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion);
  });

  test('a subnet change under allocations is denied the same way', async () => {
    const current = await ok(call('GET', `${POOLS}/lan`));
    const moved = { ...current, spec: { subnet: '10.66.0.0/24' } };
    assert.equal(await denial(call('PUT', `${POOLS}/lan`, moved), 403), 'pool "lan": spec change would drop 10.6.0.12 (held by pod default/web-0); release it first');
  });

  test('an update that drops only free IPs is allowed', async () => {
    const current = await ok(call('GET', `${POOLS}/lan`));
    // 10.6.0.19 has a released IPAllocation: free, so it may go.
    const updated = await ok(call('PUT', `${POOLS}/lan`, { ...current, spec: { ...current.spec, ips: ['10.6.0.10-10.6.0.18'] } }));
    assert.deepEqual(updated.spec.ips, ['10.6.0.10-10.6.0.18']);
  });

  test('a metadata-only change (merge patch) is allowed', async () => {
    const patched = await ok(call('PATCH', `${POOLS}/lan`, { metadata: { labels: { team: 'net' } } }, 'application/merge-patch+json'));
    assert.equal(patched.metadata.labels.team, 'net');
  });

  test('deleting a pool with allocated IPs is denied and the pool stays', async () => {
    const message = await denial(call('DELETE', `${POOLS}/lan`), 403);
    assert.equal(message, 'pool "lan" still has 1 allocated IP (default/web-0 10.6.0.12); delete that pod first or drain the pool with spec.disable: true');
    assert.equal((await call('GET', `${POOLS}/lan`)).status, 200);
  });

  test('a pool whose IPs are all released can be deleted', async () => {
    await ok(call('POST', POOLS, pool('spare', { subnet: '10.7.0.0/24' })));
    await ok(call('POST', ALLOCS, allocation('spare', '10.7.0.5')));
    await ok(call('DELETE', `${POOLS}/spare`));
  });
});

describe('webhook: ReservedIP', () => {
  test('valid entries are allowed', async () => {
    await ok(call('POST', RESERVED, { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name: 'routers' }, spec: { ips: ['10.6.0.1-10.6.0.3', '10.6.0.254'] } }));
  });
  test('an entry that is not an IP or range is denied naming spec.ips[i]', async () => {
    const bad = { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name: 'vips' }, spec: { ips: ['10.6.0.250', '10.6.0.9-10.6.0.1', 'vip'] } };
    assert.equal(await denial(call('POST', RESERVED, bad), 422), 'ReservedIP "vips": spec.ips[1] "10.6.0.9-10.6.0.1" is not an IP or an a-b range');
  });
});

describe('webhook: transport', () => {
  function post(path: string, body: string, servername = 'tidepool-controller-webhook.kube-system.svc'): Promise<{ status: number; text: string }> {
    const [host, port] = [controller.webhookAddress!.replace(/:\d+$/, ''), Number(controller.webhookAddress!.replace(/^.*:/, ''))];
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host, port, path, method: 'POST', ca: controller.caPem, servername, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  test('a client that verifies against the CA reaches the webhook under the Service name (as the API server does)', async () => {
    const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', resource: { group: 'tidepool.dev', version: 'v1alpha1', resource: 'reservedips' }, name: 'x', operation: 'CREATE', object: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name: 'x' }, spec: { ips: ['10.0.0.1'] } } } };
    const r = await post('/validate', JSON.stringify(review));
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
  });

  test('the certificate does not pass for another namespace\'s Service', async () => {
    await assert.rejects(post('/validate', '{}', 'tidepool-controller-webhook.default.svc'), /does not match|altnames/i);
  });

  test('a malformed AdmissionReview gets 400', async () => {
    assert.equal((await post('/validate', 'not json')).status, 400);
    const r = await post('/validate', JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
    assert.equal(r.status, 400);
    assert.match(r.text, /request is missing/);
  });

  test('a change the webhook cannot check (its read of the pools fails) is refused', async () => {
    const fault = server.injectFault({ verb: 'list', resource: 'ippools', status: 500, times: 1 });
    const r = await call('POST', POOLS, pool('unchecked', { subnet: '10.99.0.0/24' }));
    fault.remove();
    assert.notEqual(r.status, 201, JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /tidepool could not check this change/);
  });

  test('requests are counted by resource, operation and outcome', async () => {
    const text = await (await fetch(`http://${controller.metricsAddress}/metrics`)).text();
    assert.match(text, /tidepool_webhook_requests_total\{resource="ippools",operation="CREATE",result="error"\} [1-9]/, 'the review it could not check');
    assert.match(text, /tidepool_webhook_requests_total\{resource="unknown",operation="unknown",result="error"\} 2/, 'the two malformed reviews');
    assert.match(text, /tidepool_webhook_requests_total\{resource="ippools",operation="CREATE",result="denied"\} [1-9]/);
    assert.match(text, /tidepool_webhook_requests_total\{resource="ippools",operation="DELETE",result="allowed"\} [1-9]/);
    assert.match(text, /tidepool_webhook_requests_total\{resource="reservedips",operation="CREATE",result="allowed"\} [1-9]/);
  });
});

describe('webhook: caBundle', () => {
  const bundle = async (): Promise<string[]> => {
    const cfg = await ok(call('GET', WEBHOOK_CONFIG));
    return splitPemCertificates(Buffer.from(cfg.webhooks[0].clientConfig.caBundle, 'base64').toString('utf8'));
  };

  test('a replica whose CA is not in caBundle is not trusted: with failurePolicy Fail, pool changes are refused naming the webhook', async () => {
    // This replica would patch another configuration, which the chart's RBAC does not even let it read: the chart's never lists its CA.
    const stranger = await startReplica('stranger', ['--webhook-config-name', 'elsewhere']);
    try {
      server.routeService(WEBHOOK_SERVICE, stranger.webhookAddress!);
      const r = await call('POST', POOLS, pool('untrusted', { subnet: '10.9.0.0/24' }));
      assert.equal(r.status, 500);
      assert.equal(
        r.body.message,
        'Internal error occurred: failed calling webhook "validate.tidepool.dev": failed to call webhook: Post "https://tidepool-controller-webhook.kube-system.svc:443/validate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority',
      );
      assert.equal((await call('GET', `${POOLS}/untrusted`)).status, 404);
      assert.ok(!(await bundle()).includes(splitPemCertificates(stranger.caPem!)[0]!));
    } finally {
      server.routeService(WEBHOOK_SERVICE, controller.webhookAddress!);
      await stranger.stop();
    }
    const refused = server.takeDenials();
    assert.ok(refused.length >= 1);
    for (const d of refused) assert.match(d, /^validatingwebhookconfigurations\.admissionregistration\.k8s\.io "elsewhere" is forbidden: User "system:serviceaccount:kube-system:tidepool-controller" cannot get/);
  });

  test('the replica\'s CA is patched into the chart\'s empty caBundle, the rest of the webhook untouched', async () => {
    assert.deepEqual(await bundle(), splitPemCertificates(controller.caPem!));
    const cfg = await ok(call('GET', WEBHOOK_CONFIG));
    const { caBundle: _ca, ...clientConfig } = cfg.webhooks[0].clientConfig;
    assert.deepEqual(clientConfig, { service: chartWebhookConfiguration.webhooks[0]!.clientConfig.service });
    assert.deepEqual(cfg.webhooks[0].rules, chartWebhookConfiguration.webhooks[0]!.rules);
    assert.equal(new X509Certificate(controller.caPem!).ca, true);
  });

  test('a second replica adds its CA beside the first one\'s; both replicas answer', async () => {
    const second = await startReplica('replica-b');
    try {
      await until('the second replica is ready', () => second.ready());
      assert.deepEqual(await bundle(), [...splitPemCertificates(controller.caPem!), ...splitPemCertificates(second.caPem!)]);
      server.routeService(WEBHOOK_SERVICE, second.webhookAddress!);
      await denial(call('POST', POOLS, pool('dup', { subnet: '10.6.0.0/24' })), 422);
    } finally {
      server.routeService(WEBHOOK_SERVICE, controller.webhookAddress!);
      await second.stop();
    }
  });

  test('replicas racing to patch merge rather than overwrite each other', async () => {
    // Both read the same resourceVersion; the loser gets 409, reads again and merges.
    const hold = server.injectFault({ verb: 'patch', resource: 'validatingwebhookconfigurations', delayMs: 100, times: 2 });
    const [c, d] = await Promise.all([startReplica('replica-c'), startReplica('replica-d')]);
    try {
      await until('both are ready', () => c.ready() && d.ready());
      assert.equal(hold.hits, 2);
      assert.ok((server.stats().conflicts['validatingwebhookconfigurations'] ?? 0) >= 1, 'one patch lost the race');
      const pems = await bundle();
      for (const r of [controller, c, d]) assert.ok(pems.includes(splitPemCertificates(r.caPem!)[0]!), 'every CA is in the bundle');
      assert.ok(pems.length <= 4);
    } finally {
      await Promise.all([c.stop(), d.stop()]);
    }
  });
});
