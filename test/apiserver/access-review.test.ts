// SelfSubjectAccessReview and SubjectAccessReview answered by the server's
// RBAC, as `kubectl auth can-i` asks them: here against the chart's own
// roles, for the chart's ServiceAccounts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { installChartRbac, type ChartKubeconfigs } from '../helpers/chart-rbac.ts';
import { kubectlPath } from './kubectl.ts';
import { createFakeApiServer, type FakeApiServer } from './server.ts';

const run = promisify(execFile);
const SSAR = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const SAR = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

let server: FakeApiServer;
let dir: string;
let kubeconfigs: ChartKubeconfigs;
let agentToken: string;

before(async () => {
  // kubectl sends its token only over TLS.
  server = await createFakeApiServer({ authentication: true, tls: true });
  dir = mkdtempSync(join(tmpdir(), 'tidepool-can-i-'));
  ({ kubeconfigs } = await installChartRbac(server, dir));
  agentToken = server.serviceAccountToken('kube-system', 'tidepool-agent');
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A review through the server's router, authenticated by `token` as over the wire. */
async function post(token: string, path: string, spec: unknown): Promise<{ status: number; body: any }> {
  const res = await server.core.router.handle({ method: 'POST', path, query: new URLSearchParams(), contentType: 'application/json', authorization: `Bearer ${token}`, body: { bytes: Buffer.from(JSON.stringify({ spec })) } });
  assert.equal(res.kind, 'response');
  return { status: res.status, body: res.body };
}

test('a SelfSubjectAccessReview answers for the caller, naming the binding that allows', async () => {
  const allowed = await post(agentToken, SSAR, { resourceAttributes: { verb: 'create', group: 'tidepool.dev', resource: 'ipallocations' } });
  assert.equal(allowed.status, 201);
  assert.deepEqual(allowed.body, {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec: { resourceAttributes: { verb: 'create', group: 'tidepool.dev', resource: 'ipallocations' } },
    status: { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "tidepool-agent" of ClusterRole "tidepool-agent" to ServiceAccount "tidepool-agent/kube-system"' },
  });
  const denied = await post(agentToken, SSAR, { resourceAttributes: { verb: 'delete', group: 'tidepool.dev', resource: 'ippools', name: 'lan' } });
  assert.deepEqual(denied.body.status, { allowed: false });
  const path = await post(agentToken, SSAR, { nonResourceAttributes: { verb: 'get', path: '/apis/tidepool.dev' } });
  assert.equal(path.body.status.allowed, true, 'discovery is every authenticated user\'s');
  const bad = await post(agentToken, SSAR, {});
  assert.equal(bad.status, 422);
  assert.equal(bad.body.message, 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified');
  assert.deepEqual(server.objects('selfsubjectaccessreviews'), [], 'reviews are never stored');
});

test('a SubjectAccessReview asks about another user, and only an allowed caller may ask', async () => {
  const spec = { user: 'system:serviceaccount:kube-system:tidepool-controller', groups: ['system:serviceaccounts'], resourceAttributes: { verb: 'patch', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system', name: 'tidepool-controller' } };
  const asked = await post(server.adminToken, SAR, spec);
  assert.equal(asked.status, 201);
  assert.deepEqual(asked.body.status, { allowed: true, reason: 'RBAC: allowed by RoleBinding "tidepool-controller/kube-system" of Role "tidepool-controller" to ServiceAccount "tidepool-controller/kube-system"' });
  const refused = await post(agentToken, SAR, spec);
  assert.equal(refused.status, 403);
  assert.match(refused.body.message, /^subjectaccessreviews\.authorization\.k8s\.io is forbidden: User "system:serviceaccount:kube-system:tidepool-agent" cannot create resource "subjectaccessreviews"/);
  server.takeDenials();
});

test('kubectl auth can-i, as the chart\'s accounts', { skip: kubectlPath ? false : 'needs kubectl' }, async () => {
  const canI = async (who: 'agent' | 'controller', ...args: string[]): Promise<string> => {
    const out = await run(kubectlPath!, ['--kubeconfig', kubeconfigs[who], 'auth', 'can-i', ...args]).then(
      (r) => r.stdout,
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    return out.trim();
  };
  assert.equal(await canI('agent', 'create', 'ipallocations.tidepool.dev'), 'yes');
  assert.equal(await canI('agent', 'delete', 'ippools.tidepool.dev'), 'no');
  assert.equal(await canI('controller', 'patch', 'leases/tidepool-controller', '-n', 'kube-system'), 'yes');
  assert.equal(await canI('controller', 'patch', 'leases/other', '-n', 'kube-system'), 'no');
});
