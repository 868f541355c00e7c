// RBAC from stored objects: ClusterRoles, Roles and their bindings decide
// every request of a server with authentication, as the real RBAC
// authorizer decides it, and a refused request gets the real 403 and
// changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeApiServer, type FakeApiServer } from './server.ts';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';
const PODS = '/api/v1/namespaces/default/pods';
const pod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'i' }] } });

let server: FakeApiServer;
let admin: string;

async function call(token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(server.url + path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function ok(p: Promise<{ status: number; body: any }>): Promise<any> {
  const r = await p;
  assert.ok(r.status < 300, `${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A ServiceAccount in `namespace` and a token for it. */
async function account(namespace: string, name: string): Promise<string> {
  await ok(call(admin, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } }));
  return server.serviceAccountToken(namespace, name);
}

const clusterRole = (name: string, rules: unknown[]) => call(admin, 'POST', `${RBAC}/clusterroles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules });
const role = (namespace: string, name: string, rules: unknown[]) => call(admin, 'POST', `${RBAC}/namespaces/${namespace}/roles`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules });
const binding = (name: string, roleName: string, subjects: unknown[], namespace?: string, roleKind = 'ClusterRole') =>
  call(admin, 'POST', namespace ? `${RBAC}/namespaces/${namespace}/rolebindings` : `${RBAC}/clusterrolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: namespace ? 'RoleBinding' : 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name: roleName },
    subjects,
  });
const sa = (name: string, namespace?: string) => ({ kind: 'ServiceAccount', name, ...(namespace ? { namespace } : {}) });

before(async () => {
  server = await createFakeApiServer({ authentication: true });
  admin = server.adminToken;
  await ok(call(admin, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } }));
  await ok(call(admin, 'POST', PODS, pod('web')));
});
after(() => server.close());

describe('identity and the bootstrap policy', () => {
  test('a ServiceAccount token is system:serviceaccount:<ns>:<name>; without bindings it may discover, not read', async () => {
    const token = await account('default', 'nobody');
    assert.equal((await call(token, 'GET', '/api')).status, 200, 'system:discovery is bound to system:authenticated');
    assert.equal((await call(token, 'GET', '/version')).status, 200);
    const denied = await call(token, 'GET', '/api/v1/pods');
    assert.deepEqual(denied, {
      status: 403,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'pods is forbidden: User "system:serviceaccount:default:nobody" cannot list resource "pods" in API group "" at the cluster scope',
        reason: 'Forbidden',
        details: { kind: 'pods' },
        code: 403,
      },
    });
    const path = await call(token, 'GET', '/metrics');
    assert.equal(path.body.message, 'forbidden: User "system:serviceaccount:default:nobody" cannot get path "/metrics"');
  });

  test('the bootstrap roles are stored objects', async () => {
    const names = (await ok(call(admin, 'GET', `${RBAC}/clusterrolebindings`))).items.map((b: any) => b.metadata.name);
    assert.deepEqual(names, ['cluster-admin', 'system:basic-user', 'system:discovery', 'system:public-info-viewer']);
  });

  test('a token stops working when its ServiceAccount is deleted, and does not come back with a new one of the same name', async () => {
    const token = await account('default', 'short-lived');
    await ok(binding('short-lived-view', 'cluster-admin', [sa('short-lived', 'default')]));
    assert.equal((await call(token, 'GET', '/api/v1/pods')).status, 200);
    await ok(call(admin, 'DELETE', '/api/v1/namespaces/default/serviceaccounts/short-lived'));
    assert.equal((await call(token, 'GET', '/api/v1/pods')).status, 401);
    await ok(call(admin, 'POST', '/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'short-lived' } }));
    assert.equal((await call(token, 'GET', '/api/v1/pods')).status, 401, 'the token was bound to the first one\'s UID');
  });
});

describe('rules', () => {
  let token: string;
  before(async () => {
    token = await account('default', 'reader');
    await ok(
      clusterRole('reader', [
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['mine'], verbs: ['get', 'list', 'watch', 'update', 'create'] },
        { apiGroups: ['*'], resources: ['*/status'], verbs: ['get'] },
        { nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] },
      ]),
    );
    await ok(binding('reader', 'reader', [sa('reader', 'default')]));
  });

  test('verbs, groups and resources must all match; a subresource is its own resource', async () => {
    assert.equal((await call(token, 'GET', PODS)).status, 200);
    assert.equal((await call(token, 'GET', `${PODS}/web`)).status, 200);
    assert.equal((await call(token, 'GET', `${PODS}?watch=true&timeoutSeconds=1`)).status, 403, 'watch is not list');
    assert.equal((await call(token, 'PATCH', `${PODS}/web`, { metadata: { labels: { a: 'b' } } })).status, 403, 'pods/status does not grant pods');
    assert.equal((await call(token, 'PATCH', `${PODS}/web/status`, { status: { phase: 'Running' } })).status, 200);
    assert.equal((await call(token, 'GET', '/apis/apps/v1/namespaces/default/statefulsets/x/status')).status, 404, '*/status in any group: allowed, then not found');
    assert.equal((await call(token, 'GET', '/apis/apps/v1/namespaces/default/statefulsets/x')).status, 403);
  });

  test('resourceNames: the named object only; a list or watch only through a metadata.name field selector; never create', async () => {
    const leases = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
    const create = await call(token, 'POST', leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mine' } });
    assert.equal(create.status, 403);
    assert.equal(create.body.message, 'leases.coordination.k8s.io is forbidden: User "system:serviceaccount:default:reader" cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "default"');
    await ok(call(admin, 'POST', leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mine' } }));
    assert.equal((await call(token, 'GET', `${leases}/mine`)).status, 200);
    const other = await call(token, 'GET', `${leases}/theirs`);
    assert.equal(other.body.message, 'leases.coordination.k8s.io "theirs" is forbidden: User "system:serviceaccount:default:reader" cannot get resource "leases" in API group "coordination.k8s.io" in the namespace "default"');
    assert.deepEqual(other.body.details, { name: 'theirs', group: 'coordination.k8s.io', kind: 'leases' });
    assert.equal((await call(token, 'GET', leases)).status, 403, 'a list names no object');
    assert.equal((await call(token, 'GET', `${leases}?fieldSelector=metadata.name%3Dmine`)).status, 200);
    assert.equal((await call(token, 'GET', `${leases}?fieldSelector=metadata.name%3D%3Dmine&watch=1&timeoutSeconds=1`)).status, 200);
    assert.equal((await call(token, 'GET', `${leases}?fieldSelector=metadata.name!%3Dmine`)).status, 403);
    const listed = await call(token, 'GET', `${leases}?fieldSelector=metadata.name%3Dtheirs`);
    assert.match(listed.body.message, /^leases\.coordination\.k8s\.io "theirs" is forbidden: .* cannot list resource "leases"/);
  });

  test('nonResourceURLs: exact, or a prefix ending in *', async () => {
    assert.equal((await call(token, 'GET', '/metrics')).status, 404, 'allowed, then not served here');
    assert.equal((await call(token, 'GET', '/debug/pprof/heap')).status, 404);
    assert.equal((await call(token, 'GET', '/debugger')).status, 403);
  });

  test('a refused write changes nothing', async () => {
    const before = server.resourceVersion();
    assert.equal((await call(token, 'POST', PODS, pod('sneaky'))).status, 403);
    assert.equal((await call(token, 'DELETE', `${PODS}/web`)).status, 403);
    assert.equal(server.resourceVersion(), before);
    assert.deepEqual(server.objects('pods').map((p) => p.metadata.name), ['web']);
  });

  test('a change to a role applies to the next request', async () => {
    assert.equal((await call(token, 'GET', '/api/v1/nodes')).status, 403);
    const current = await ok(call(admin, 'GET', `${RBAC}/clusterroles/reader`));
    await ok(call(admin, 'PUT', `${RBAC}/clusterroles/reader`, { ...current, rules: [...current.rules, { apiGroups: [''], resources: ['nodes'], verbs: ['*'] }] }));
    assert.equal((await call(token, 'GET', '/api/v1/nodes')).status, 200);
  });
});

describe('bindings and subjects', () => {
  test('a RoleBinding grants in its namespace only, to a ServiceAccount of that namespace when the subject names none', async () => {
    const token = await account('team', 'dev');
    await ok(role('team', 'pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]));
    await ok(binding('dev', 'pod-reader', [sa('dev')], 'team', 'Role'));
    assert.equal((await call(token, 'GET', '/api/v1/namespaces/team/pods')).status, 200);
    const elsewhere = await call(token, 'GET', PODS);
    assert.equal(elsewhere.body.message, 'pods is forbidden: User "system:serviceaccount:team:dev" cannot list resource "pods" in API group "" in the namespace "default"');
    assert.equal((await call(token, 'GET', '/api/v1/pods')).status, 403, 'not at the cluster scope either');
  });

  test('a RoleBinding to a ClusterRole grants its rules in the binding\'s namespace only', async () => {
    const token = await account('team', 'ops');
    await ok(clusterRole('pod-lister', [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }]));
    await ok(binding('ops', 'pod-lister', [sa('ops', 'team')], 'team'));
    assert.equal((await call(token, 'GET', '/api/v1/namespaces/team/pods')).status, 200);
    assert.equal((await call(token, 'GET', PODS)).status, 403);
  });

  test('Group subjects: system:serviceaccounts:<ns> holds every ServiceAccount of that namespace', async () => {
    const token = await account('team', 'anyone');
    await ok(clusterRole('node-lister', [{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }]));
    await ok(binding('team-nodes', 'node-lister', [{ kind: 'Group', name: 'system:serviceaccounts:team', apiGroup: 'rbac.authorization.k8s.io' }]));
    assert.equal((await call(token, 'GET', '/api/v1/nodes')).status, 200);
    assert.equal((await call(await account('default', 'outsider'), 'GET', '/api/v1/nodes')).status, 403);
  });

  test('User subjects match the username', async () => {
    const alice = server.mintToken(60_000, { username: 'alice', groups: ['system:authenticated'] });
    await ok(binding('alice', 'node-lister', [{ kind: 'User', name: 'alice' }]));
    assert.equal((await call(alice, 'GET', '/api/v1/nodes')).status, 200);
  });

  test('a binding to a role that does not exist grants nothing and says so', async () => {
    const token = await account('default', 'orphan');
    await ok(binding('orphan', 'no-such-role', [sa('orphan', 'default')]));
    const denied = await call(token, 'GET', '/api/v1/nodes');
    assert.equal(denied.body.message, 'nodes is forbidden: User "system:serviceaccount:default:orphan" cannot list resource "nodes" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found');
  });
});

describe('RBAC objects are validated as the real server validates them', () => {
  test('a Role may not name non-resource URLs; resource rules need groups and verbs', async () => {
    const r = await role('default', 'bad', [{ nonResourceURLs: ['/healthz'], verbs: ['get'] }, { resources: ['pods'], verbs: [] }]);
    assert.equal(r.status, 422);
    assert.deepEqual(
      r.body.details.causes.map((c: any) => `${c.field}: ${c.message}`),
      [
        'rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs',
        'rules[1].verbs: Required value: verbs must contain at least one value',
        'rules[1].apiGroups: Required value: resource rules must supply at least one api group',
      ],
    );
  });

  test('a binding\'s roleRef cannot change, and its subjects must be known kinds', async () => {
    await ok(binding('fixed', 'reader', [{ kind: 'User', name: 'bob' }]));
    const b = await ok(call(admin, 'GET', `${RBAC}/clusterrolebindings/fixed`));
    assert.equal(b.subjects[0].apiGroup, 'rbac.authorization.k8s.io', 'User subjects default to the RBAC group');
    const moved = await call(admin, 'PUT', `${RBAC}/clusterrolebindings/fixed`, { ...b, roleRef: { ...b.roleRef, name: 'cluster-admin' } });
    assert.equal(moved.status, 422);
    assert.match(moved.body.message, /roleRef: Invalid value: rbac\.RoleRef\{APIGroup:"rbac\.authorization\.k8s\.io", Kind:"ClusterRole", Name:"cluster-admin"\}: cannot change roleRef/);
    const odd = await binding('odd', 'reader', [{ kind: 'Robot', name: 'r2' }, { kind: 'ServiceAccount', name: 'x' }]);
    assert.equal(odd.status, 422);
    assert.match(odd.body.message, /subjects\[0\]\.kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"/);
    assert.match(odd.body.message, /subjects\[1\]\.namespace: Required value/);
  });
});
