// Validating admission from stored ValidatingWebhookConfigurations: which
// webhooks a request is sent to (rules, scope, selectors, exemptions), how
// they are reached (url or Service, TLS against the caBundle, timeout), what
// they are sent, and how their answers and failures become the real
// server's answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createWebhookCertificates } from '../../src/controller/certificates.ts';
import { ALLOC, allocation, startHarness, statusOf, type Harness } from './test-helpers.ts';

type Review = { apiVersion: string; request: any; url: string };
type Answer = { allowed: boolean; status?: Record<string, unknown>; warnings?: string[] } | 'hang' | 'garbage' | { raw: unknown } | { http: number; body: string; type?: string };
type Decide = (req: any) => Answer;

const VWC = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
const SERVICE = { namespace: 'hooks', name: 'checker' };

/** An HTTPS webhook on loopback, its certificate valid for 127.0.0.1 and the Service `checker.hooks.svc`, signed by its own CA. */
interface Hook {
  readonly url: string;
  readonly address: string;
  readonly caBundle: string;
  readonly seen: Review[];
  decide: Decide;
  close(): Promise<void>;
}

function answer(res: ServerResponse, review: any, d: Exclude<Answer, 'hang'>): void {
  if (d === 'garbage') return void res.end('not json');
  if ('http' in d) {
    res.writeHead(d.http, { 'content-type': d.type ?? 'application/json' });
    return void res.end(d.body);
  }
  res.setHeader('content-type', 'application/json');
  if ('raw' in d) return void res.end(JSON.stringify(d.raw));
  res.end(JSON.stringify({ apiVersion: review.apiVersion, kind: 'AdmissionReview', response: { uid: review.request.uid, ...d } }));
}

async function startHook(decide: Decide, hosts = ['127.0.0.1', `${SERVICE.name}.${SERVICE.namespace}.svc`]): Promise<Hook> {
  const certs = createWebhookCertificates({ hosts, now: Date.now(), caName: 'test-webhook-ca' });
  const seen: Review[] = [];
  const hook = { decide } as Hook;
  const server: Server = createHttpsServer({ cert: certs.certPem, key: certs.keyPem }, (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const review = JSON.parse(body);
      seen.push({ ...review, url: req.url });
      const d = hook.decide(review.request);
      if (d !== 'hang') answer(res, review, d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(hook, {
    url: `https://127.0.0.1:${port}/validate`,
    address: `127.0.0.1:${port}`,
    caBundle: Buffer.from(certs.caPem).toString('base64'),
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  });
}

const ALLOC_RULES = [{ apiGroups: ['tidepool.dev'], apiVersions: ['v1alpha1'], resources: ['ipallocations'], operations: ['CREATE', 'UPDATE', 'DELETE'] }];

function webhook(name: string, clientConfig: Record<string, unknown>, more: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, clientConfig, rules: ALLOC_RULES, sideEffects: 'None', admissionReviewVersions: ['v1'], ...more };
}

async function configure(h: Harness, name: string, webhooks: Record<string, unknown>[]): Promise<void> {
  const existing = await h.raw('GET', `${VWC}/${name}`);
  const body = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name, ...(existing.status === 200 ? { resourceVersion: existing.body.metadata.resourceVersion } : {}) }, webhooks };
  const r = existing.status === 200 ? await h.raw('PUT', `${VWC}/${name}`, body) : await h.raw('POST', VWC, body);
  assert.ok(r.status < 300, `${r.status}: ${r.text}`);
}

const createAlloc = (h: Harness, name: string, labels: Record<string, string> = {}) => h.custom.createClusterCustomObject({ ...ALLOC, body: allocation(name, labels) });

describe('what a webhook is sent, and what its answer does', () => {
  let h: Harness;
  let hook: Hook;
  before(async () => {
    hook = await startHook((r) => (r.object?.spec?.ip === '10.0.0.66' ? { allowed: false, status: { message: 'address is reserved' } } : { allowed: true }));
    h = await startHarness();
    await configure(h, 'checks', [webhook('ipallocations.tidepool.dev', { url: hook.url, caBundle: hook.caBundle }, { timeoutSeconds: 5 })]);
  });
  after(async () => {
    await h.close();
    await hook.close();
  });

  test('create, update and delete each get an AdmissionReview with the real fields; a denial stores nothing', async () => {
    const a = await createAlloc(h, 'a');
    const create = hook.seen[0]!;
    assert.equal(create.apiVersion, 'admission.k8s.io/v1');
    assert.equal(create.url, '/validate?timeout=5s', 'the deadline travels as ?timeout=');
    const rq = create.request;
    assert.match(rq.uid, /^[0-9a-f-]{36}$/);
    assert.deepEqual([rq.operation, rq.name, rq.namespace, rq.subResource], ['CREATE', 'a', undefined, undefined]);
    assert.deepEqual(rq.kind, { group: 'tidepool.dev', version: 'v1alpha1', kind: 'IPAllocation' });
    assert.deepEqual(rq.resource, { group: 'tidepool.dev', version: 'v1alpha1', resource: 'ipallocations' });
    assert.deepEqual(rq.requestKind, rq.kind);
    assert.deepEqual(rq.requestResource, rq.resource);
    assert.deepEqual(rq.userInfo, { username: 'tidepool-test', groups: ['system:masters', 'system:authenticated'] });
    assert.equal(rq.object.metadata.uid, a.metadata.uid, 'validating webhooks see the object as it will be stored');
    assert.deepEqual([rq.oldObject, rq.dryRun, rq.options], [null, false, { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' }]);
    const denied = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'a', body: { ...a, spec: { ip: '10.0.0.66' } } }));
    assert.deepEqual([denied.code, denied.status.message], [403, 'admission webhook "ipallocations.tidepool.dev" denied the request: address is reserved']);
    assert.equal(hook.seen[1]!.request.operation, 'UPDATE');
    assert.equal(hook.seen[1]!.request.oldObject.spec.ip, '10.0.0.1');
    assert.equal((await h.custom.getClusterCustomObject({ ...ALLOC, name: 'a' })).spec.ip, '10.0.0.1', 'a denied update is not stored');
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a' });
    const del = hook.seen[2]!.request;
    assert.deepEqual([del.operation, del.object, del.oldObject.metadata.name, del.options.kind], ['DELETE', null, 'a', 'DeleteOptions']);
    await h.custom.createClusterCustomObject({ group: 'tidepool.dev', version: 'v1alpha1', plural: 'reservedips', body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name: 'r' }, spec: {} } });
    assert.equal(hook.seen.length, 3, 'other resources are not sent');
  });

  test('a denial keeps the webhook\'s code and reason; without a message it is "without explanation"', async () => {
    hook.decide = (r) => (r.name === 'coded' ? { allowed: false, status: { code: 422, reason: 'Invalid', message: 'bad ip' } } : { allowed: false, status: { code: 200 } });
    const coded = await statusOf(createAlloc(h, 'coded'));
    assert.deepEqual([coded.code, coded.status.reason, coded.status.message], [422, 'Invalid', 'admission webhook "ipallocations.tidepool.dev" denied the request: bad ip']);
    const bare = await statusOf(createAlloc(h, 'bare'));
    assert.deepEqual([bare.code, bare.status.message], [403, 'admission webhook "ipallocations.tidepool.dev" denied the request without explanation']);
    assert.equal(h.server.objects('ipallocations').length, 0);
  });

  test('warnings reach the client as Warning headers, on allowed and on denied answers', async () => {
    hook.decide = (r) => ({ allowed: r.name !== 'warned-no', warnings: ['pool "p" is "nearly" full'] });
    const ok = await h.raw('POST', ALLOC_PATH, allocation('warned'));
    assert.equal(ok.status, 201);
    const no = await fetch(h.server.url + ALLOC_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(allocation('warned-no')) });
    assert.equal(no.status, 403);
    assert.equal(no.headers.get('warning'), '299 - "pool \\"p\\" is \\"nearly\\" full"');
  });

  test('an answer whose uid or type is wrong, or that patches, is no answer: failurePolicy decides', async () => {
    const cases: [Answer, RegExp][] = [
      [{ raw: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'other', allowed: true } } }, /received invalid webhook response: expected response\.uid="[0-9a-f-]{36}", got "other"$/],
      [{ raw: { response: {} } }, /received invalid webhook response: expected response\.uid=/],
      [{ raw: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } }, /received invalid webhook response: webhook response was absent$/],
      [{ http: 404, body: '{}' }, /failed to call webhook: the server could not find the requested resource$/],
      [{ http: 500, body: 'boom', type: 'text/plain' }, /failed to call webhook: an error on the server \("boom"\) has prevented the request from succeeding$/],
      ['garbage', /failed to call webhook: couldn't get version\/kind; json parse error: /],
    ];
    for (const [reply, message] of cases) {
      hook.decide = () => reply;
      const failed = await statusOf(createAlloc(h, 'x'));
      assert.equal(failed.code, 500, JSON.stringify(reply));
      assert.equal(failed.status.reason, 'InternalError');
      assert.match(failed.status.message, /^Internal error occurred: failed calling webhook "ipallocations\.tidepool\.dev": /);
      assert.match(failed.status.message, message);
    }
    hook.decide = (r) => ({ raw: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: r.uid, allowed: true, patch: 'W10=', patchType: 'JSONPatch' } } });
    assert.match((await statusOf(createAlloc(h, 'x'))).status.message, /validating webhook may not return response\.patch$/);
  });
});

const ALLOC_PATH = '/apis/tidepool.dev/v1alpha1/ipallocations';

describe('reaching the webhook: TLS against caBundle, Services, timeouts, failurePolicy', () => {
  let h: Harness;
  let hook: Hook;
  before(async () => {
    hook = await startHook(() => ({ allowed: true }));
    h = await startHarness();
  });
  after(async () => {
    await h.close();
    await hook.close();
  });

  test('a wrong or missing caBundle is not trusted: Fail refuses naming the webhook, Ignore lets the request through', async () => {
    const other = await startHook(() => ({ allowed: true }));
    await other.close();
    for (const caBundle of [other.caBundle, undefined]) {
      await configure(h, 'tls', [webhook('tls.tidepool.dev', { url: hook.url, ...(caBundle ? { caBundle } : {}) })]);
      const failed = await statusOf(createAlloc(h, 'a'));
      assert.equal(failed.code, 500);
      assert.equal(failed.status.message, `Internal error occurred: failed calling webhook "tls.tidepool.dev": failed to call webhook: Post "${hook.url}?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority`);
      await configure(h, 'tls', [webhook('tls.tidepool.dev', { url: hook.url, ...(caBundle ? { caBundle } : {}) }, { failurePolicy: 'Ignore' })]);
      await createAlloc(h, 'a');
      await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'a' });
    }
    assert.equal(hook.seen.length, 0, 'no review ever reached an untrusted server');
    await configure(h, 'tls', [webhook('tls.tidepool.dev', { url: hook.url, caBundle: Buffer.from('not a certificate').toString('base64') })]);
    assert.match((await statusOf(createAlloc(h, 'a'))).status.message, /failed calling webhook "tls\.tidepool\.dev": could not get REST client: unable to load root certificates: unable to parse bytes as PEM block$/);
    await configure(h, 'tls', [webhook('tls.tidepool.dev', { url: hook.url, caBundle: hook.caBundle })]);
    await createAlloc(h, 'trusted');
    assert.equal(hook.seen.length, 1, 'with the right CA it is called');
  });

  test('service clientConfig: called at the route given for the Service, verified as <name>.<namespace>.svc', async () => {
    const service = { ...SERVICE, path: '/validate', port: 443 };
    await configure(h, 'tls', [webhook('svc.tidepool.dev', { service, caBundle: hook.caBundle })]);
    const unrouted = await statusOf(createAlloc(h, 'b'));
    assert.equal(unrouted.status.message, 'Internal error occurred: failed calling webhook "svc.tidepool.dev": failed to call webhook: Post "https://checker.hooks.svc:443/validate?timeout=10s": dial tcp: lookup checker.hooks.svc: no such host');
    h.server.routeService(SERVICE, hook.address);
    const before = hook.seen.length;
    await createAlloc(h, 'b');
    assert.equal(hook.seen.length, before + 1);
    assert.equal(hook.seen.at(-1)!.url, '/validate?timeout=10s');
    // A certificate not valid for the Service's name is refused like a wrong CA.
    const stranger = await startHook(() => ({ allowed: true }), ['127.0.0.1', 'elsewhere.hooks.svc']);
    try {
      h.server.routeService(SERVICE, stranger.address);
      await configure(h, 'tls', [webhook('svc.tidepool.dev', { service, caBundle: stranger.caBundle })]);
      assert.match((await statusOf(createAlloc(h, 'c'))).status.message, /tls: failed to verify certificate: x509: certificate is valid for elsewhere\.hooks\.svc, not checker\.hooks\.svc$/);
    } finally {
      await stranger.close();
      h.server.routeService(SERVICE, undefined);
    }
  });

  test('an endpoint that refuses connections or does not answer within timeoutSeconds fails the call', async () => {
    const gone = await startHook(() => ({ allowed: true }));
    await gone.close();
    await configure(h, 'tls', [webhook('gone.tidepool.dev', { url: gone.url, caBundle: gone.caBundle })]);
    assert.match((await statusOf(createAlloc(h, 'd'))).status.message, /failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/validate\?timeout=10s": dial tcp 127\.0\.0\.1:\d+: connect: connection refused$/);
    hook.decide = () => 'hang';
    await configure(h, 'tls', [webhook('slow.tidepool.dev', { url: hook.url, caBundle: hook.caBundle }, { timeoutSeconds: 1 })]);
    const started = Date.now();
    assert.match((await statusOf(createAlloc(h, 'd'))).status.message, /failed calling webhook "slow\.tidepool\.dev": failed to call webhook: Post ".*\?timeout=1s": context deadline exceeded$/);
    assert.ok(Date.now() - started < 3000);
    hook.decide = () => ({ allowed: true });
  });

  test('admissionReviewVersions: the first one this server speaks is sent; none of them fails the call', async () => {
    await configure(h, 'tls', [webhook('old.tidepool.dev', { url: hook.url, caBundle: hook.caBundle }, { admissionReviewVersions: ['v2', 'v1beta1', 'v1'] })]);
    // A v1beta1 answer is not checked for its uid or type.
    hook.decide = () => ({ raw: { response: { allowed: true } } });
    await createAlloc(h, 'e');
    assert.equal(hook.seen.at(-1)!.apiVersion, 'admission.k8s.io/v1beta1');
    hook.decide = () => ({ allowed: true });
  });
});

describe('which webhooks a request is sent to', () => {
  let h: Harness;
  let hook: Hook;
  before(async () => {
    hook = await startHook(() => ({ allowed: false, status: { message: 'seen' } }));
    h = await startHarness();
    await h.raw('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'watched', labels: { audit: 'on' } } });
    await h.raw('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'quiet' } });
  });
  after(async () => {
    await h.close();
    await hook.close();
  });
  const client = () => ({ url: hook.url, caBundle: hook.caBundle });
  const podIn = (ns: string, name: string, labels: Record<string, string> = {}) =>
    h.raw('POST', `/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [{ name: 'c', image: 'i' }] } });

  test('resources: a subresource only through rules naming it (pods/status, */status, pods/*)', async () => {
    await configure(h, 'select', [webhook('status.tidepool.dev', client(), { rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods/status'], operations: ['UPDATE'] }] })]);
    assert.equal((await podIn('quiet', 'p')).status, 201);
    const r = await h.raw('PATCH', '/api/v1/namespaces/quiet/pods/p/status', { status: { phase: 'Running' } }, 'application/merge-patch+json');
    assert.equal(r.status, 403);
    assert.equal(hook.seen.at(-1)!.request.subResource, 'status');
    await configure(h, 'select', [webhook('status.tidepool.dev', client(), { rules: [{ apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['UPDATE'] }] })]);
    assert.equal((await h.raw('PATCH', '/api/v1/namespaces/quiet/pods/p/status', { status: { phase: 'Failed' } }, 'application/merge-patch+json')).status, 200, '* is main resources only');
    await configure(h, 'select', [webhook('status.tidepool.dev', client(), { rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods/*'], operations: ['UPDATE'] }] })]);
    assert.equal((await h.raw('PATCH', '/api/v1/namespaces/quiet/pods/p', { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json')).status, 403, 'pods/* includes pods itself');
  });

  test('scope: Namespaced skips cluster-scoped objects; Cluster takes them, Namespaces included', async () => {
    const every = { apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['CREATE'] };
    await configure(h, 'select', [webhook('scope.tidepool.dev', client(), { rules: [{ ...every, scope: 'Namespaced' }] })]);
    assert.equal((await h.raw('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } })).status, 201);
    assert.equal((await podIn('quiet', 'p2')).status, 403);
    await configure(h, 'select', [webhook('scope.tidepool.dev', client(), { rules: [{ ...every, scope: 'Cluster' }] })]);
    assert.equal((await podIn('quiet', 'p3')).status, 201);
    const ns = await h.raw('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh' } });
    assert.equal(ns.status, 403);
    assert.equal(hook.seen.at(-1)!.request.namespace, 'fresh', 'a Namespace is its own namespace');
  });

  test('namespaceSelector: by the namespace\'s labels; never exempts cluster-scoped objects', async () => {
    const every = { apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['CREATE'] };
    await configure(h, 'select', [webhook('ns.tidepool.dev', client(), { rules: [every], namespaceSelector: { matchExpressions: [{ key: 'audit', operator: 'In', values: ['on'] }] } })]);
    assert.equal((await podIn('quiet', 'p4')).status, 201);
    assert.equal((await podIn('watched', 'p4')).status, 403);
    assert.equal((await h.raw('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n2' } })).status, 403);
    assert.equal((await h.raw('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'labelled', labels: { audit: 'on' } } })).status, 403, 'a new Namespace by its own labels');
  });

  test('objectSelector: by the new or the old object\'s labels', async () => {
    await configure(h, 'select', [webhook('obj.tidepool.dev', client(), { objectSelector: { matchLabels: { tier: 'gold' } } })]);
    await createAlloc(h, 'plain');
    assert.equal((await statusOf(createAlloc(h, 'gold', { tier: 'gold' }))).code, 403);
    hook.decide = (r) => (r.operation === 'DELETE' ? { allowed: false, status: { message: 'seen' } } : { allowed: true });
    await createAlloc(h, 'was-gold', { tier: 'gold' });
    const sent = hook.seen.length;
    const obj = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'was-gold' });
    await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'was-gold', body: { ...obj, metadata: { ...obj.metadata, labels: {} } } });
    assert.equal(hook.seen.length, sent + 1, 'the update is sent: the old object was gold');
    await h.custom.deleteClusterCustomObject({ ...ALLOC, name: 'was-gold' });
    assert.equal(hook.seen.length, sent + 1, 'the delete is not: neither object is gold');
    hook.decide = () => ({ allowed: false, status: { message: 'seen' } });
  });

  test('webhook configurations are never sent to webhooks, so a broken one can be fixed', async () => {
    const gone = await startHook(() => ({ allowed: true }));
    await gone.close();
    const everything = { apiGroups: ['*'], apiVersions: ['*'], resources: ['*/*'], operations: ['*'] };
    await configure(h, 'select', [webhook('all.tidepool.dev', { url: gone.url, caBundle: gone.caBundle }, { rules: [everything] })]);
    assert.equal((await podIn('quiet', 'p5')).status, 500);
    await configure(h, 'select', [webhook('all.tidepool.dev', client(), { rules: [everything], failurePolicy: 'Ignore' })]);
  });
});

describe('ValidatingWebhookConfiguration objects are defaulted and validated as v1', () => {
  test('defaults are stored; a configuration the server could never call is refused', async () => {
    const h = await startHarness();
    try {
      await configure(h, 'ok', [webhook('ok.tidepool.dev', { service: { namespace: 'hooks', name: 'checker' } }, { rules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], operations: ['CREATE'] }] })]);
      const stored = (await h.raw('GET', `${VWC}/ok`)).body.webhooks[0];
      assert.deepEqual(
        [stored.failurePolicy, stored.matchPolicy, stored.timeoutSeconds, stored.namespaceSelector, stored.objectSelector, stored.rules[0].scope, stored.clientConfig.service.port],
        ['Fail', 'Equivalent', 10, {}, {}, '*', 443],
      );
      const bad = await h.raw('POST', VWC, {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: { name: 'bad' },
        webhooks: [{ name: 'short', clientConfig: { url: 'http://127.0.0.1:1/x' }, rules: ALLOC_RULES, admissionReviewVersions: ['v2'], timeoutSeconds: 31 }],
      });
      assert.equal(bad.status, 422);
      assert.deepEqual(
        bad.body.details.causes.map((c: any) => `${c.field}: ${c.message}`),
        [
          'webhooks[0].name: Invalid value: "short": should be a domain with at least three segments separated by dots',
          'webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun',
          'webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds',
          'webhooks[0].clientConfig.url: Invalid value: "http": \'https\' is the only allowed URL scheme; desired format: https://host[/path]',
          'webhooks[0].admissionReviewVersions: Invalid value: []string{"v2"}: must include at least one of v1, v1beta1',
        ],
      );
    } finally {
      await h.close();
    }
  });
});
