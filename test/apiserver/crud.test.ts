import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALLOC, POOL, allocation, pod, startHarness, statusOf } from './test-helpers.ts';

test('create returns 201 with uid, creationTimestamp, resourceVersion and generation', async () => {
  const h = await startHarness({ now: () => new Date('2030-01-02T03:04:05.678Z') });
  try {
    const before = Number(h.server.resourceVersion());
    const res = await h.raw('POST', '/apis/tidepool.dev/v1alpha1/ipallocations', allocation('p.10.0.0.1'));
    assert.equal(res.status, 201);
    const m = res.body.metadata;
    assert.match(m.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(m.creationTimestamp, '2030-01-02T03:04:05Z');
    assert.equal(m.resourceVersion, String(before + 1));
    assert.equal(m.generation, 1);
    assert.equal(h.server.resourceVersion(), String(before + 1));
    const got = await h.custom.getClusterCustomObject({ ...ALLOC, name: 'p.10.0.0.1' });
    assert.deepEqual(got, res.body);
  } finally {
    await h.close();
  }
});

test('one resourceVersion counter spans all kinds', async () => {
  const h = await startHarness();
  try {
    const a = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a.10.0.0.1') });
    const p = await h.core.createNamespacedPod({ namespace: 'default', body: pod('p') });
    const l = await h.coord.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'x' } } });
    const rvs = [a.metadata.resourceVersion, p.metadata!.resourceVersion, l.metadata!.resourceVersion].map(Number);
    assert.deepEqual(rvs, [rvs[0]!, rvs[0]! + 1, rvs[0]! + 2]);
  } finally {
    await h.close();
  }
});

test('create of an existing name is 409 AlreadyExists', async () => {
  const h = await startHarness();
  try {
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('p.10.0.0.1') });
    const { code, status } = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('p.10.0.0.1') }));
    assert.equal(code, 409);
    assert.deepEqual(status, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'ipallocations.tidepool.dev "p.10.0.0.1" already exists',
      reason: 'AlreadyExists',
      details: { name: 'p.10.0.0.1', group: 'tidepool.dev', kind: 'ipallocations' },
      code: 409,
    });
    assert.equal(h.server.stats().alreadyExists['ipallocations'], 1);
  } finally {
    await h.close();
  }
});

test('generateName appends five random characters', async () => {
  const h = await startHarness();
  try {
    const a = await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { generateName: 'web-' }, spec: pod('x').spec! } });
    const b = await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { generateName: 'web-' }, spec: pod('x').spec! } });
    assert.match(a.metadata!.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.notEqual(a.metadata!.name, b.metadata!.name);
    const { code, status } = await statusOf(h.core.createNamespacedPod({ namespace: 'default', body: { metadata: {}, spec: pod('x').spec! } }));
    assert.equal(code, 422);
    assert.equal(status.message, 'Pod "" is invalid: metadata.name: Required value: name or generateName is required');
  } finally {
    await h.close();
  }
});

test('create in a missing namespace is 404 for the namespace', async () => {
  const h = await startHarness();
  try {
    const { code, status } = await statusOf(h.core.createNamespacedPod({ namespace: 'nowhere', body: pod('p') }));
    assert.equal(code, 404);
    assert.equal(status.reason, 'NotFound');
    assert.equal(status.message, 'namespaces "nowhere" not found');
    assert.deepEqual(status.details, { name: 'nowhere', kind: 'namespaces' });
  } finally {
    await h.close();
  }
});

test('create in a terminating namespace is 403 Forbidden', async () => {
  const h = await startHarness();
  try {
    await h.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await h.core.createNamespacedPod({ namespace: 'doomed', body: pod('slow', { nodeName: 'n1' }) });
    await h.core.deleteNamespace({ name: 'doomed' });
    const ns = await h.core.readNamespace({ name: 'doomed' });
    assert.equal(ns.status?.phase, 'Terminating');
    const { code, status } = await statusOf(h.core.createNamespacedPod({ namespace: 'doomed', body: pod('new') }));
    assert.equal(code, 403);
    assert.equal(status.reason, 'Forbidden');
    assert.equal(status.message, 'pods "new" is forbidden: unable to create new content in namespace doomed because it is being terminated');
  } finally {
    await h.close();
  }
});

test('body kind, apiVersion and namespace must match the URL (400)', async () => {
  const h = await startHarness();
  try {
    let r = await h.raw('POST', '/apis/tidepool.dev/v1alpha1/ipallocations', { ...allocation('x'), kind: 'IPPool' });
    assert.equal(r.status, 400);
    assert.equal(r.body.reason, 'BadRequest');
    assert.equal(r.body.message, 'the kind in the data (IPPool) does not match the expected kind (IPAllocation)');
    r = await h.raw('POST', '/apis/tidepool.dev/v1alpha1/ipallocations', { ...allocation('x'), apiVersion: 'tidepool.dev/v1' });
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'the API version in the data (tidepool.dev/v1) does not match the expected API version (tidepool.dev/v1alpha1)');
    r = await h.raw('POST', '/apis/tidepool.dev/v1alpha1/ipallocations', { metadata: { name: 'x' }, spec: {} });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /^Object 'Kind' is missing in/);
    r = await h.raw('POST', '/api/v1/namespaces/default/pods', { ...pod('x'), metadata: { name: 'x', namespace: 'kube-system' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.message, 'the namespace of the provided object does not match the namespace sent on the request');
    r = await h.raw('POST', '/api/v1/namespaces/default/pods', '{not json');
    assert.equal(r.status, 400);
    // Built-in kinds may omit kind/apiVersion: the URL supplies them.
    r = await h.raw('POST', '/api/v1/namespaces/default/pods', pod('typed-by-url'));
    assert.equal(r.status, 201);
    assert.equal(r.body.kind, 'Pod');
    assert.equal(r.body.apiVersion, 'v1');
  } finally {
    await h.close();
  }
});

test('names must be DNS-1123 subdomains (namespaces: labels) — 422 Invalid with causes', async () => {
  const h = await startHarness();
  try {
    const { code, status } = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('Bad_Name') }));
    assert.equal(code, 422);
    assert.equal(status.reason, 'Invalid');
    assert.match(status.message, /^IPAllocation\.tidepool\.dev "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
    assert.equal(status.details.kind, 'IPAllocation');
    assert.equal(status.details.group, 'tidepool.dev');
    assert.equal(status.details.causes[0].field, 'metadata.name');
    assert.equal(status.details.causes[0].reason, 'FieldValueInvalid');
    const ns = await statusOf(h.core.createNamespace({ body: { metadata: { name: 'a.b' } } }));
    assert.equal(ns.code, 422);
    assert.match(ns.status.message, /RFC 1123 label/);
    const label = await statusOf(h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('ok', { 'bad key!': 'v' }) }));
    assert.equal(label.code, 422);
    assert.match(label.status.message, /metadata\.labels/);
  } finally {
    await h.close();
  }
});

test('create with metadata.resourceVersion fails like the real storage layer (500)', async () => {
  const h = await startHarness();
  try {
    const body = allocation('x');
    (body['metadata'] as Record<string, unknown>)['resourceVersion'] = '12';
    const r = await h.raw('POST', '/apis/tidepool.dev/v1alpha1/ipallocations', body);
    assert.equal(r.status, 500);
    assert.equal(r.body.message, 'resourceVersion should not be set on objects to be created');
  } finally {
    await h.close();
  }
});

test('get of a missing object is a NotFound Status', async () => {
  const h = await startHarness();
  try {
    const { code, status } = await statusOf(h.core.readNamespacedPod({ name: 'x', namespace: 'default' }));
    assert.equal(code, 404);
    assert.deepEqual(status, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "x" not found', reason: 'NotFound', details: { name: 'x', kind: 'pods' }, code: 404 });
    const sts = await statusOf(h.apps.readNamespacedStatefulSet({ name: 'db', namespace: 'default' }));
    assert.equal(sts.status.message, 'statefulsets.apps "db" not found');
    assert.deepEqual(sts.status.details, { name: 'db', group: 'apps', kind: 'statefulsets' });
    const unknown = await h.raw('GET', '/apis/nothing.example/v1/things');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.message, 'the server could not find the requested resource');
  } finally {
    await h.close();
  }
});

test('update with a stale resourceVersion is 409 Conflict; current one succeeds', async () => {
  const h = await startHarness();
  try {
    const created = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('a.10.0.0.1') });
    const first = structuredClone(created);
    first.spec.pool = 'pool-a';
    const updated = await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'a.10.0.0.1', body: first });
    assert.equal(Number(updated.metadata.resourceVersion), Number(created.metadata.resourceVersion) + 1);
    assert.equal(updated.metadata.generation, 2);
    const stale = structuredClone(created);
    stale.spec.pool = 'pool-b';
    const { code, status } = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'a.10.0.0.1', body: stale }));
    assert.equal(code, 409);
    assert.equal(status.reason, 'Conflict');
    assert.equal(status.message, 'Operation cannot be fulfilled on ipallocations.tidepool.dev "a.10.0.0.1": the object has been modified; please apply your changes to the latest version and try again');
    assert.equal(h.server.stats().conflicts['ipallocations'], 1);
    const missing = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'gone', body: allocation('gone') }));
    assert.equal(missing.code, 404);
  } finally {
    await h.close();
  }
});

test('PUT without resourceVersion: unconditional for built-ins, 422 for custom resources', async () => {
  const h = await startHarness();
  try {
    await h.coord.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a' } } });
    const l = await h.coord.replaceNamespacedLease({ name: 'l', namespace: 'default', body: { metadata: { name: 'l' }, spec: { holderIdentity: 'b' } } });
    assert.equal(l.spec?.holderIdentity, 'b');
    await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('c') });
    const { code, status } = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'c', body: allocation('c') }));
    assert.equal(code, 422);
    assert.equal(status.message, 'IPAllocation.tidepool.dev "c" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
  } finally {
    await h.close();
  }
});

test('an update that changes nothing keeps the resourceVersion', async () => {
  const h = await startHarness();
  try {
    const created = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('same') });
    const again = await h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'same', body: created });
    assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal(h.server.resourceVersion(), created.metadata.resourceVersion);
  } finally {
    await h.close();
  }
});

test('status subresource: main PUT ignores status, /status changes only status; generation follows spec', async () => {
  const h = await startHarness();
  try {
    const created = await h.custom.createClusterCustomObject({
      ...POOL,
      body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'pool-a' }, spec: { subnet: '10.0.0.0/24' }, status: { allocatedIPCount: 9 } },
    });
    assert.equal(created.status, undefined, 'status is dropped on create');
    const withStatus = await h.custom.replaceClusterCustomObjectStatus({ ...POOL, name: 'pool-a', body: { ...created, spec: { subnet: '10.9.9.0/24' }, status: { allocatedIPCount: 254 } } });
    assert.deepEqual(withStatus.status, { allocatedIPCount: 254 });
    assert.deepEqual(withStatus.spec, { subnet: '10.0.0.0/24' }, 'spec change through /status is ignored');
    assert.equal(withStatus.metadata.generation, 1);
    const specChange = await h.custom.replaceClusterCustomObject({ ...POOL, name: 'pool-a', body: { ...withStatus, spec: { subnet: '10.0.1.0/24' }, status: { allocatedIPCount: 0 } } });
    assert.deepEqual(specChange.status, { allocatedIPCount: 254 }, 'status change through the main resource is ignored');
    assert.equal(specChange.metadata.generation, 2);
    const labelOnly = await h.custom.replaceClusterCustomObject({ ...POOL, name: 'pool-a', body: { ...specChange, metadata: { ...specChange.metadata, labels: { a: 'b' } } } });
    assert.equal(labelOnly.metadata.generation, 2, 'metadata changes do not bump generation');
  } finally {
    await h.close();
  }
});

test('uid, name and namespace cannot change through update', async () => {
  const h = await startHarness();
  try {
    const created = await h.custom.createClusterCustomObject({ ...ALLOC, body: allocation('u') });
    const uid = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'u', body: { ...created, metadata: { ...created.metadata, uid: 'other' } } }));
    assert.equal(uid.code, 409);
    assert.match(uid.status.message, /Precondition failed: UID in precondition: other, UID in object meta: /);
    const name = await statusOf(h.custom.replaceClusterCustomObject({ ...ALLOC, name: 'u', body: { ...created, metadata: { ...created.metadata, name: 'v' } } }));
    assert.equal(name.code, 400);
    assert.equal(name.status.message, 'the name of the object (v) does not match the name on the URL (u)');
    const p = await h.core.createNamespacedPod({ namespace: 'default', body: pod('p') });
    const ns = await h.raw('PUT', '/api/v1/namespaces/default/pods/p', { ...p, metadata: { ...p.metadata, namespace: 'kube-system' } });
    assert.equal(ns.status, 400);
  } finally {
    await h.close();
  }
});

test('pod spec is immutable after create; nodeName is set through binding, once', async () => {
  const h = await startHarness();
  try {
    const p = await h.core.createNamespacedPod({ namespace: 'default', body: pod('p') });
    const { code, status } = await statusOf(h.core.replaceNamespacedPod({ name: 'p', namespace: 'default', body: { ...p, spec: { ...p.spec!, nodeName: 'n1' } } }));
    assert.equal(code, 422);
    assert.match(status.message, /^Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than/);
    // The image is one of the few mutable fields.
    const img = await h.core.replaceNamespacedPod({ name: 'p', namespace: 'default', body: { ...p, spec: { ...p.spec!, containers: [{ ...p.spec!.containers[0]!, image: 'registry.example/app:2' }] } } });
    assert.equal(img.spec?.containers[0]?.image, 'registry.example/app:2');
    const bind = await h.raw('POST', '/api/v1/namespaces/default/pods/p/binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n1' } });
    assert.equal(bind.status, 201);
    assert.equal((await h.core.readNamespacedPod({ name: 'p', namespace: 'default' })).spec?.nodeName, 'n1');
    const again = await h.raw('POST', '/api/v1/namespaces/default/pods/p/binding', { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n2' } });
    assert.equal(again.status, 409);
    assert.match(again.body.message, /is already assigned to node "n1"/);
    const bound = await h.core.readNamespacedPod({ name: 'p', namespace: 'default' });
    const move = await statusOf(h.core.replaceNamespacedPod({ name: 'p', namespace: 'default', body: { ...bound, spec: { ...bound.spec!, nodeName: 'n2' } } }));
    assert.equal(move.code, 422);
  } finally {
    await h.close();
  }
});

test('pods get defaults and status Pending on create; validation of containers', async () => {
  const h = await startHarness();
  try {
    const p = await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'app' }] }, status: { phase: 'Running' } } });
    assert.equal(p.status?.phase, 'Pending');
    assert.equal(p.spec?.terminationGracePeriodSeconds, 30);
    assert.equal(p.spec?.restartPolicy, 'Always');
    assert.equal(p.spec?.containers[0]?.imagePullPolicy, 'Always');
    const bad = await statusOf(h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'q' }, spec: { containers: [] } } }));
    assert.equal(bad.code, 422);
    assert.equal(bad.status.message, 'Pod "q" is invalid: spec.containers: Required value');
  } finally {
    await h.close();
  }
});

test('registerKind adds a kind with schema validation (422)', async () => {
  const h = await startHarness();
  try {
    h.server.registerKind({
      group: 'tidepool.dev',
      version: 'v1alpha1',
      plural: 'widgets',
      kind: 'Widget',
      namespaced: true,
      validate: (o) => (typeof (o['spec'] as { size?: unknown } | undefined)?.size === 'number' ? [] : ['spec.size: Required value']),
    });
    const g = { group: 'tidepool.dev', version: 'v1alpha1', plural: 'widgets', namespace: 'default' };
    const ok = await h.custom.createNamespacedCustomObject({ ...g, body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 1 } } });
    assert.equal(ok.metadata.namespace, 'default');
    const bad = await statusOf(h.custom.createNamespacedCustomObject({ ...g, body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'Widget', metadata: { name: 'x' }, spec: {} } }));
    assert.equal(bad.code, 422);
    assert.equal(bad.status.message, 'Widget.tidepool.dev "x" is invalid: spec.size: Required value');
    assert.deepEqual(bad.status.details.causes, [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.size' }]);
  } finally {
    await h.close();
  }
});

test('statefulsets: defaults, selector must match template, generation on spec change', async () => {
  const h = await startHarness();
  try {
    const body = {
      metadata: { name: 'db' },
      spec: { serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'db:1' }] } } },
    };
    const s = await h.apps.createNamespacedStatefulSet({ namespace: 'default', body });
    assert.equal(s.spec?.replicas, 1);
    assert.equal(s.metadata?.generation, 1);
    const scaled = await h.apps.replaceNamespacedStatefulSet({ name: 'db', namespace: 'default', body: { ...s, spec: { ...s.spec!, replicas: 3 } } });
    assert.equal(scaled.metadata?.generation, 2);
    const bad = await statusOf(
      h.apps.createNamespacedStatefulSet({ namespace: 'default', body: { ...body, metadata: { name: 'bad' }, spec: { ...body.spec, selector: { matchLabels: { app: 'other' } } } } }),
    );
    assert.equal(bad.code, 422);
    assert.match(bad.status.message, /selector` does not match template `labels`/);
  } finally {
    await h.close();
  }
});
