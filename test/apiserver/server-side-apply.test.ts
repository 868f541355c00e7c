// Server-side apply (PATCH application/apply-patch+yaml) and the
// managedFields every write keeps, over HTTP: create-on-apply, ownership,
// conflicts with the real message, force, removal of fields an applier
// stopped applying, Update entries for ordinary writes (named by fieldManager
// or the user agent), the status subresource, the options the real server
// refuses, kubectl's last-applied annotation, and the cap of ten Update
// entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './test-helpers.ts';

const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';
const APPLY = 'application/apply-patch+yaml';

const poolYaml = (spec: string, labels = 'team: a') => `apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata:\n  name: p\n  labels: {${labels}}\nspec:\n${spec}`;

async function send(h: Harness, method: string, path: string, body: string | object | undefined, contentType: string, userAgent = 'tidepool-test/1'): Promise<{ status: number; body: any }> {
  const res = await fetch(h.server.url + path, { method, headers: { 'content-type': contentType, 'user-agent': userAgent }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}

const apply = (h: Harness, config: string, manager: string, extra = '') => send(h, 'PATCH', `${POOLS}/p?fieldManager=${manager}${extra}`, config, APPLY);

/** managedFields as `manager operation [subresource]: fieldsV1`, times aside. */
const owners = (obj: any): Record<string, unknown> =>
  Object.fromEntries((obj.metadata.managedFields ?? []).map((e: any) => [`${e.manager} ${e.operation}${e.subresource ? ` ${e.subresource}` : ''}`, e.fieldsV1]));

test('apply creates the object (201), records the applier, and a repeated apply changes nothing', async () => {
  const h = await startHarness({ now: () => new Date(Date.UTC(2026, 0, 1)) });
  try {
    const created = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  ips: [10.0.0.10]\n'), 'alice');
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.metadata.managedFields, [
      {
        manager: 'alice',
        operation: 'Apply',
        apiVersion: 'tidepool.dev/v1alpha1',
        time: '2026-01-01T00:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:ips': {}, 'f:subnet': {} } },
      },
    ]);
    const again = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  ips: [10.0.0.10]\n'), 'alice');
    assert.equal(again.status, 200);
    assert.equal(again.body.metadata.resourceVersion, created.body.metadata.resourceVersion, 'a no-op apply writes nothing');
  } finally {
    await h.close();
  }
});

test('another manager applying a different value conflicts (409, the real message) unless forced; the same value is shared', async () => {
  const h = await startHarness();
  try {
    await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  ips: [10.0.0.10]\n  gateway: 10.0.0.1\n'), 'alice');
    const one = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  ips: [10.0.0.20]\n'), 'bob');
    assert.equal(one.status, 409);
    assert.deepEqual(one.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Apply failed with 1 conflict: conflict with "alice": .spec.ips',
      reason: 'Conflict',
      details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.ips' }] },
      code: 409,
    });
    const two = await apply(h, poolYaml('  subnet: 10.0.0.0/25\n  ips: [10.0.0.20]\n', 'team: b'), 'bob');
    assert.equal(two.body.message, 'Apply failed with 3 conflicts: conflicts with "alice":\n- .metadata.labels.team\n- .spec.ips\n- .spec.subnet');
    const shared = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n'), 'bob');
    assert.equal(shared.status, 200, 'the same value is no conflict');
    assert.deepEqual(owners(shared.body)['bob Apply'], { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:subnet': {} } });
    const forced = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  ips: [10.0.0.20]\n'), 'bob', '&force=true');
    assert.equal(forced.status, 200);
    assert.deepEqual(forced.body.spec.ips, ['10.0.0.20']);
    assert.deepEqual(owners(forced.body)['alice Apply'], { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:gateway': {}, 'f:subnet': {} } }, 'forcing takes the field from alice');
  } finally {
    await h.close();
  }
});

test('fields an applier stops applying are removed, unless another manager owns them too', async () => {
  const h = await startHarness();
  try {
    await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  gateway: 10.0.0.1\n  default: true\n'), 'alice');
    await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  default: true\n', ''), 'bob');
    const after = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n', ''), 'alice');
    assert.equal(after.status, 200);
    assert.deepEqual(after.body.spec, { subnet: '10.0.0.0/24', default: true }, 'gateway is gone, default stays: bob applies it');
    assert.equal(after.body.metadata.labels, undefined, 'the label alice stopped applying is gone');
  } finally {
    await h.close();
  }
});

test('ordinary writes record Update entries named by fieldManager or the user agent, and take fields from appliers', async () => {
  const h = await startHarness();
  try {
    await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  disable: false\n'), 'alice');
    const merged = await send(h, 'PATCH', `${POOLS}/p`, { spec: { disable: true } }, 'application/merge-patch+json', 'tidepool-controller/c-1');
    assert.equal(merged.status, 200);
    const entry = merged.body.metadata.managedFields.find((e: any) => e.operation === 'Update');
    assert.deepEqual([entry.manager, entry.apiVersion, entry.fieldsV1], ['tidepool-controller', 'tidepool.dev/v1alpha1', { 'f:spec': { 'f:disable': {} } }]);
    assert.deepEqual(owners(merged.body)['alice Apply'], { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:subnet': {} } });
    const back = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n  disable: false\n'), 'alice');
    assert.equal(back.body.message, 'Apply failed with 1 conflict: conflict with "tidepool-controller" using tidepool.dev/v1alpha1: .spec.disable');
    const named = await send(h, 'PATCH', `${POOLS}/p?fieldManager=ops`, { metadata: { annotations: { note: 'x' } } }, 'application/merge-patch+json');
    assert.deepEqual(owners(named.body)['ops Update'], { 'f:metadata': { 'f:annotations': { '.': {}, 'f:note': {} } } });
  } finally {
    await h.close();
  }
});

test('a create records its fields; a status write is recorded with its subresource; managedFields: [] clears them', async () => {
  const h = await startHarness();
  try {
    const pool = { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'p' }, spec: { subnet: '10.0.0.0/24' } };
    const created = await send(h, 'POST', POOLS, pool, 'application/json');
    assert.deepEqual(owners(created.body), { 'tidepool-test Update': { 'f:spec': { '.': {}, 'f:subnet': {} } } });
    const status = await send(h, 'PATCH', `${POOLS}/p/status`, { status: { allocatedIPCount: 3 } }, 'application/merge-patch+json', 'tidepool-agent/n1');
    assert.deepEqual(owners(status.body)['tidepool-agent Update status'], { 'f:status': { '.': {}, 'f:allocatedIPCount': {} } });
    const statusApply = await send(h, 'PATCH', `${POOLS}/p/status?fieldManager=agent`, 'apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata: {name: p}\nspec: {subnet: ignored}\nstatus: {allocatedIPCount: 3, totalIPCount: "10"}\n', APPLY);
    assert.equal(statusApply.status, 200, JSON.stringify(statusApply.body));
    assert.deepEqual(owners(statusApply.body)['agent Apply status'], { 'f:status': { 'f:allocatedIPCount': {}, 'f:totalIPCount': {} } }, 'spec is reset through /status, so not owned');
    assert.equal(statusApply.body.spec.subnet, '10.0.0.0/24');
    const cleared = await send(h, 'PATCH', `${POOLS}/p`, { metadata: { managedFields: [] } }, 'application/merge-patch+json', 'ops');
    assert.equal(cleared.body.metadata.managedFields, undefined);
  } finally {
    await h.close();
  }
});

test('refused: apply without fieldManager, force on other patches, a configuration of another kind or with managedFields, a name that is not the URL\'s', async () => {
  const h = await startHarness();
  try {
    const noManager = await send(h, 'PATCH', `${POOLS}/p`, poolYaml('  subnet: 10.0.0.0/24\n'), APPLY);
    assert.deepEqual([noManager.status, noManager.body.message, noManager.body.details], [
      422,
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      { group: 'meta.k8s.io', kind: 'PatchOptions', causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }] },
    ]);
    await apply(h, poolYaml('  subnet: 10.0.0.0/24\n'), 'alice');
    const force = await send(h, 'PATCH', `${POOLS}/p?force=true`, { spec: { gateway: '10.0.0.1' } }, 'application/merge-patch+json');
    assert.deepEqual([force.status, force.body.message], [422, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch']);
    const wrongKind = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n').replace('v1alpha1', 'v1'), 'alice');
    assert.deepEqual([wrongKind.status, wrongKind.body.message], [400, 'invalid object type: tidepool.dev/v1, Kind=IPPool']);
    const withManaged = await apply(h, poolYaml('  subnet: 10.0.0.0/24\n').replace('  name: p\n', '  name: p\n  managedFields: []\n'), 'alice');
    assert.deepEqual([withManaged.status, withManaged.body.message], [400, 'metadata.managedFields must be nil']);
    const renamed = await send(h, 'PATCH', `${POOLS}/q?fieldManager=alice`, poolYaml('  subnet: 10.0.0.0/24\n'), APPLY);
    assert.deepEqual([renamed.status, renamed.body.message], [400, 'the name of the object (p) does not match the name on the URL (q)']);
    const badManager = await send(h, 'PATCH', `${POOLS}/p?fieldManager=${'x'.repeat(129)}`, poolYaml('  subnet: 10.0.0.0/24\n'), APPLY);
    assert.deepEqual([badManager.status, badManager.body.message], [422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes']);
    const missingStatus = await send(h, 'PATCH', `${POOLS}/nope/status?fieldManager=a`, poolYaml('').replace('name: p', 'name: nope'), APPLY);
    assert.equal(missingStatus.status, 404, 'apply through a subresource does not create');
  } finally {
    await h.close();
  }
});

test('built-in kinds: a pod applied, its container image changed by a strategic merge patch of another manager conflicts on the keyed path', async () => {
  const h = await startHarness();
  try {
    const podYaml = (image: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n    image: ${image}\n    ports: [{containerPort: 80}]\n`;
    const path = '/api/v1/namespaces/default/pods/web';
    const created = await send(h, 'PATCH', `${path}?fieldManager=deployer`, podYaml('app:1'), APPLY);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(owners(created.body)['deployer Apply'], {
      'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } } } } },
    });
    const smp = await send(h, 'PATCH', path, { spec: { containers: [{ name: 'app', image: 'app:2' }] } }, 'application/strategic-merge-patch+json', 'kubectl/v1.32');
    assert.equal(smp.status, 200);
    const conflict = await send(h, 'PATCH', `${path}?fieldManager=deployer`, podYaml('app:3'), APPLY);
    assert.equal(conflict.body.message, 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .spec.containers[name="app"].image');
  } finally {
    await h.close();
  }
});

test('kubectl (manager "kubectl") may take fields its client-side apply annotation still describes; the annotation follows its applies', async () => {
  const h = await startHarness();
  try {
    const lastApplied = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'app:1' }] } };
    const pod = { metadata: { name: 'web', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(lastApplied) } }, spec: { containers: [{ name: 'app', image: 'app:1' }] } };
    const path = '/api/v1/namespaces/default/pods';
    await send(h, 'POST', `${path}?fieldManager=kubectl-client-side-apply`, pod, 'application/json');
    const config = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\nspec:\n  containers: [{name: app, image: app:2}]\n';
    const other = await send(h, 'PATCH', `${path}/web?fieldManager=someone`, config, APPLY);
    assert.equal(other.body.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .spec.containers[name="app"].image');
    const kubectl = await send(h, 'PATCH', `${path}/web?fieldManager=kubectl`, config, APPLY);
    assert.equal(kubectl.status, 200, JSON.stringify(kubectl.body));
    assert.equal(kubectl.body.spec.containers[0].image, 'app:2');
    assert.equal(
      kubectl.body.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'],
      '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},"spec":{"containers":[{"image":"app:2","name":"app"}]}}\n',
    );
  } finally {
    await h.close();
  }
});

test('an eleventh Update manager folds the oldest into ancient-changes', async () => {
  let second = 0;
  const h = await startHarness({ now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, second++)) });
  try {
    await h.custom.createClusterCustomObject({ group: 'tidepool.dev', version: 'v1alpha1', plural: 'ippools', body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'p' }, spec: { subnet: '10.0.0.0/24' } } });
    let last: any;
    for (let i = 0; i < 11; i++) last = (await h.raw('PATCH', `/apis/tidepool.dev/v1alpha1/ippools/p?fieldManager=m${i}`, { metadata: { labels: { [`l${i}`]: 'x' } } }, 'application/merge-patch+json')).body;
    const managers = last.metadata.managedFields.map((e: any) => e.manager);
    assert.equal(managers.length, 10);
    assert.equal(managers[0], 'ancient-changes');
  } finally {
    await h.close();
  }
});
