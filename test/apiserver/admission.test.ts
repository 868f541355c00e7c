import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ALLOC, allocation, startHarness, statusOf } from './test-helpers.ts';

type Review = { request: any };
type Decide = (req: any) => { allowed: boolean; status?: Record<string, unknown> } | 'hang' | 'garbage';

function handler(seen: Review[], decide: Decide) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const review = JSON.parse(body) as Review;
      seen.push(review);
      const d = decide(review.request);
      if (d === 'hang') return;
      res.setHeader('content-type', 'application/json');
      if (d === 'garbage') return void res.end('not json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, ...d } }));
    });
  };
}

async function startWebhook(decide: Decide): Promise<{ url: string; seen: Review[]; close(): Promise<void> }> {
  const seen: Review[] = [];
  const server = createHttpServer(handler(seen, decide));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/validate`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

const RULES = [{ groups: ['tidepool.dev'], resources: ['ipallocations'], operations: ['CREATE', 'UPDATE', 'DELETE'] as ('CREATE' | 'UPDATE' | 'DELETE')[] }];

test('webhook receives an AdmissionReview for create, update and delete and can deny', async () => {
  const hook = await startWebhook((r) => (r.object?.spec?.ip === '10.0.0.66' ? { allowed: false, status: { message: 'address is reserved' } } : { allowed: true }));
  const h = await startHarness({ admission: [{ name: 'ipallocations.tidepool.dev', rules: RULES, url: hook.url, failurePolicy: 'Fail', timeoutSeconds: 5 }] });
  try {
    const a = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    const create = hook.seen[0]!.request;
    assert.equal(create.operation, 'CREATE');
    assert.equal(create.name, 'a');
    assert.deepEqual(create.kind, { group: 'tidepool.dev', version: 'v1alpha1', kind: 'IPAllocation' });
    assert.deepEqual(create.resource, { group: 'tidepool.dev', version: 'v1alpha1', resource: 'ipallocations' });
    assert.equal(create.object.metadata.uid, a.metadata.uid, 'validating webhooks see the object as it will be stored');
    assert.equal(create.oldObject, null);
    assert.equal(create.userInfo.username, 'tidepool-test');
    assert.match(create.uid, /^[0-9a-f-]{36}$/);
    const denied = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'a', body: { ...a, spec: { ...a.spec, ip: '10.0.0.66' } } }));
    assert.equal(denied.code, 403);
    assert.equal(denied.status.message, 'admission webhook "ipallocations.tidepool.dev" denied the request: address is reserved');
    const update = hook.seen[1]!.request;
    assert.equal(update.operation, 'UPDATE');
    assert.equal(update.oldObject.spec.ip, '10.0.0.1');
    assert.equal((await h.custom.getClusterCustomObject({ ...ALLOC, name: 'a' })).spec.ip, '10.0.0.1', 'a denied update is not stored');
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a' });
    const del = hook.seen[2]!.request;
    assert.equal(del.operation, 'DELETE');
    assert.equal(del.object, null);
    assert.equal(del.oldObject.metadata.name, 'a');
    // Other resources are not sent to the webhook.
    await h.custom.createClusterCustomObject({ group: 'tidepool.dev', version: 'v1alpha1', plural: 'reservedips', body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name: 'r' }, spec: { ips: [] } } });
    assert.equal(hook.seen.length, 3);
  } finally {
    await h.close();
    await hook.close();
  }
});

test('webhook status code and reason are passed through; no message says "without explanation"', async () => {
  const hook = await startWebhook((r) => (r.name === 'coded' ? { allowed: false, status: { code: 422, reason: 'Invalid', message: 'bad ip' } } : { allowed: false }));
  const h = await startHarness();
  try {
    h.server.setAdmission([{ name: 'v.tidepool.dev', rules: RULES, url: hook.url }]);
    const coded = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('coded') }));
    assert.equal(coded.code, 422);
    assert.equal(coded.status.reason, 'Invalid');
    assert.equal(coded.status.message, 'admission webhook "v.tidepool.dev" denied the request: bad ip');
    const bare = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('bare') }));
    assert.equal(bare.code, 403);
    assert.equal(bare.status.message, 'admission webhook "v.tidepool.dev" denied the request without explanation');
    assert.equal(h.server.objects('ipallocations').length, 0);
  } finally {
    await h.close();
    await hook.close();
  }
});

test('failurePolicy: Fail turns an unreachable or broken webhook into 500; Ignore lets the request through', async () => {
  const hook = await startWebhook(() => 'garbage');
  const h = await startHarness();
  try {
    h.server.setAdmission([{ name: 'broken.tidepool.dev', rules: RULES, url: hook.url, failurePolicy: 'Fail' }]);
    const failed = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') }));
    assert.equal(failed.code, 500);
    assert.equal(failed.status.reason, 'InternalError');
    assert.match(failed.status.message, /^Internal error occurred: failed calling webhook "broken.tidepool.dev": failed to call webhook: Post "http:\/\/127\.0\.0\.1:\d+\/validate": /);
    h.server.setAdmission([{ name: 'broken.tidepool.dev', rules: RULES, url: hook.url, failurePolicy: 'Ignore' }]);
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') });
    await hook.close();
    h.server.setAdmission([{ name: 'gone.tidepool.dev', rules: RULES, url: hook.url, failurePolicy: 'Fail' }]);
    const refused = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('b') }));
    assert.equal(refused.code, 500);
    assert.match(refused.status.message, /ECONNREFUSED/);
  } finally {
    await h.close();
    await hook.close();
  }
});

test('a webhook that does not answer within timeoutSeconds fails the request', async () => {
  const hook = await startWebhook(() => 'hang');
  const h = await startHarness({ admission: [{ name: 'slow.tidepool.dev', rules: RULES, url: hook.url, timeoutSeconds: 1 }] });
  try {
    const failed = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a') }));
    assert.equal(failed.code, 500);
    assert.match(failed.status.message, /context deadline exceeded/);
  } finally {
    await h.close();
    await hook.close();
  }
});

test('https webhooks with a self-signed certificate are called', { skip: existsSync('/usr/bin/openssl') ? false : 'needs openssl' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-webhook-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const seen: Review[] = [];
    const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, handler(seen, () => ({ allowed: false, status: { message: 'tls works' } })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const h = await startHarness({ admission: [{ name: 'tls.tidepool.dev', rules: [{ groups: ['*'], resources: ['*'], operations: ['*'] }], url: `https://127.0.0.1:${port}/` }] });
    try {
      const denied = await statusOf(h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } }));
      assert.equal(denied.status.message, 'admission webhook "tls.tidepool.dev" denied the request: tls works');
      assert.equal(seen[0]!.request.namespace, 'default');
    } finally {
      await h.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('subresource rules: pods/status is matched only by rules naming it', async () => {
  const hook = await startWebhook(() => ({ allowed: true }));
  const h = await startHarness({ admission: [{ name: 'status.tidepool.dev', rules: [{ groups: [''], resources: ['pods/status'], operations: ['UPDATE'] }], url: hook.url }] });
  try {
    await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    assert.equal(hook.seen.length, 0);
    await h.raw('PATCH', '/api/v1/namespaces/default/pods/p/status', { status: { phase: 'Running' } }, 'application/merge-patch+json');
    assert.equal(hook.seen.length, 1);
    assert.equal(hook.seen[0]!.request.subResource, 'status');
  } finally {
    await h.close();
    await hook.close();
  }
});
