// Custom resources obey their CRD's openAPIV3Schema as on the real server:
// the real 422 wording for every keyword, pruning of unknown fields with
// fieldValidation Strict/Warn/Ignore, defaulting (on create, update and read),
// the status subresource, and ratcheting on update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './test-helpers.ts';
import { call, CRDS, WIDGETS, widget, widgetCrd } from './crd-fixtures.ts';

const POOLS = '/apis/tidepool.dev/v1alpha1/ippools';

async function withWidgets(run: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness();
  try {
    const created = await call(h, 'POST', CRDS, widgetCrd());
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await run(h);
  } finally {
    await h.close();
  }
}

const pool = (spec: Record<string, unknown>, name = 'x') => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec });

test('the IPPool of the issue (ips not a list, default not a boolean, no subnet, an unknown field) gets the real 422, and the unknown field a warning', async () => {
  const h = await startHarness();
  try {
    const r = await call(h, 'POST', POOLS, pool({ ips: 'not-a-list', default: 'yes', foo: 1 }));
    assert.equal(r.status, 422);
    assert.equal(
      r.body.message,
      'IPPool.tidepool.dev "x" is invalid: [spec.ips: Invalid value: "string": spec.ips in body must be of type array: "string", spec.default: Invalid value: "string": spec.default in body must be of type boolean: "string", spec.subnet: Required value]',
    );
    assert.deepEqual(r.body.details, {
      name: 'x',
      group: 'tidepool.dev',
      kind: 'IPPool',
      causes: [
        { reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.ips in body must be of type array: "string"', field: 'spec.ips' },
        { reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.default in body must be of type boolean: "string"', field: 'spec.default' },
        { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.subnet' },
      ],
    });
    assert.equal(r.warnings, '299 - "unknown field \\"spec.foo\\""');
    assert.deepEqual(h.server.objects('ippools'), [], 'nothing was stored');
  } finally {
    await h.close();
  }
});

test('fieldValidation: Strict refuses unknown fields with the decoder 400, Warn (the default) and Ignore prune them, anything else is a 422', async () => {
  const h = await startHarness();
  try {
    const body = pool({ subnet: '10.0.0.0/24', foo: 1, routes: [{ dst: '10.1.0.0/16', via: 'x' }] });
    body.metadata = { name: 'x', color: 'blue' } as never;
    const strict = await call(h, 'POST', `${POOLS}?fieldValidation=Strict`, body);
    assert.equal(strict.status, 400);
    assert.equal(strict.body.message, 'IPPool in version "v1alpha1" cannot be handled as a IPPool: strict decoding error: unknown field "metadata.color", unknown field "spec.foo", unknown field "spec.routes[0].via"');
    const warned = await call(h, 'POST', POOLS, body);
    assert.equal(warned.status, 201);
    assert.equal(warned.warnings, '299 - "unknown field \\"metadata.color\\"", 299 - "unknown field \\"spec.foo\\"", 299 - "unknown field \\"spec.routes[0].via\\""');
    assert.deepEqual(warned.body.spec, { subnet: '10.0.0.0/24', routes: [{ dst: '10.1.0.0/16' }] });
    assert.equal(warned.body.metadata.color, undefined);
    const ignored = await call(h, 'POST', `${POOLS}?fieldValidation=Ignore`, { ...body, metadata: { name: 'y' } });
    assert.equal(ignored.status, 201);
    assert.equal(ignored.warnings, null);
    assert.deepEqual(ignored.body.spec, { subnet: '10.0.0.0/24', routes: [{ dst: '10.1.0.0/16' }] });
    const bad = await call(h, 'POST', `${POOLS}?fieldValidation=Loose`, pool({ subnet: '10.0.0.0/24' }, 'z'));
    assert.equal(bad.status, 422);
    assert.equal(bad.body.message, 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": supported values: "", "Ignore", "Strict", "Warn"');
    assert.deepEqual(bad.body.details, { group: 'meta.k8s.io', kind: 'CreateOptions', causes: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: "Loose": supported values: "", "Ignore", "Strict", "Warn"', field: 'fieldValidation' }] });
  } finally {
    await h.close();
  }
});

test('fieldValidation on updates and patches: PUT is refused like a create, a patch with the patched object as the bad value', async () => {
  const h = await startHarness();
  try {
    const created = (await call(h, 'POST', POOLS, pool({ subnet: '10.0.0.0/24' }))).body;
    const put = await call(h, 'PUT', `${POOLS}/x?fieldValidation=Strict`, { ...created, spec: { subnet: '10.0.0.0/24', foo: 1 } });
    assert.equal(put.status, 400);
    assert.equal(put.body.message, 'IPPool in version "v1alpha1" cannot be handled as a IPPool: strict decoding error: unknown field "spec.foo"');
    const patch = await call(h, 'PATCH', `${POOLS}/x?fieldValidation=Strict`, { spec: { bar: true } }, 'application/merge-patch+json');
    assert.equal(patch.status, 422);
    assert.match(patch.body.message, /^ "" is invalid: patch: Invalid value: "\{\\"apiVersion\\":\\"tidepool\.dev\/v1alpha1\\",\\"kind\\":\\"IPPool\\",\\"metadata\\":\{.*\},\\"spec\\":\{\\"bar\\":true,\\"subnet\\":\\"10\.0\.0\.0\/24\\"\}\}": strict decoding error: unknown field "spec\.bar"$/);
    assert.equal(patch.body.details.causes[0].field, 'patch');
    assert.equal(patch.body.details.name, undefined);
    const warned = await call(h, 'PATCH', `${POOLS}/x`, [{ op: 'add', path: '/spec/bar', value: true }], 'application/json-patch+json');
    assert.equal(warned.status, 200);
    assert.equal(warned.warnings, '299 - "unknown field \\"spec.bar\\""');
    assert.equal(warned.body.spec.bar, undefined);
    assert.equal(warned.body.metadata.resourceVersion, created.metadata.resourceVersion, 'a patch whose only change is pruned changes nothing');
  } finally {
    await h.close();
  }
});

test('each schema keyword fails with the real field error', async () => {
  await withWidgets(async (h) => {
    const r = await call(h, 'POST', WIDGETS, widget('w', { size: 11, color: 'blue', name: 'Toolong', tags: [], port: true, address: '10.0.0.256', labels: { a: 1 }, routes: [7] }));
    assert.equal(r.status, 422);
    const texts = r.body.details.causes.map((c: { field: string; message: string }) => `${c.field}: ${c.message}`);
    assert.deepEqual(texts, [
      'spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10',
      'spec.color: Unsupported value: "blue": supported values: "red", "green"',
      'spec.name: Too long: may not be more than 5 bytes',
      'spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items',
      'spec.routes[0]: Invalid value: "integer": spec.routes[0] in body must be of type object: "integer"',
      'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
      'spec.address: Invalid value: "10.0.0.256": spec.address in body must be of type ipv4: "10.0.0.256"',
      'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
    ]);
    const more = await call(h, 'POST', WIDGETS, widget('w', { size: 0, name: 'a', tags: ['a', 'b', 'c'] }));
    assert.deepEqual(
      more.body.details.causes.map((c: { field: string; message: string }) => `${c.field}: ${c.message}`),
      ['spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1', 'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long', 'spec.tags: Too many: 3: must have at most 2 items'],
    );
    const pattern = await call(h, 'POST', WIDGETS, widget('w', { size: 1, name: 'A1b' }));
    assert.equal(pattern.body.message, `Widget.example.com "w" is invalid: spec.name: Invalid value: "A1b": spec.name in body should match '^[a-z]+$'`);
    const ok = await call(h, 'POST', WIDGETS, widget('w', { size: 1, port: 'http', note: null, address: '10.0.0.1' }));
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.spec.note, null, 'a nullable field keeps its null');
  });
});

test('defaults apply on create and update, nested defaults included; nulls the schema does not allow are dropped or defaulted', async () => {
  await withWidgets(async (h) => {
    const created = await call(h, 'POST', WIDGETS, widget('w', { size: 2, color: null, name: null }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.spec, { size: 2, color: 'red', limits: { cpu: '1' } });
    const updated = await call(h, 'PUT', `${WIDGETS}/w`, { ...created.body, spec: { size: 3, limits: {} } });
    assert.deepEqual(updated.body.spec, { size: 3, color: 'red', limits: { cpu: '1' } });
    assert.equal(updated.body.metadata.generation, 2);
  });
});

test('a default added to the CRD later shows on stored objects when read, without a new resourceVersion', async () => {
  await withWidgets(async (h) => {
    const w = (await call(h, 'POST', WIDGETS, widget('w', { size: 2 }))).body;
    const crd = (await call(h, 'GET', `${CRDS}/widgets.example.com`)).body;
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.shape = { type: 'string', default: 'round' };
    assert.equal((await call(h, 'PUT', `${CRDS}/widgets.example.com`, crd)).status, 200);
    const read = (await call(h, 'GET', `${WIDGETS}/w`)).body;
    assert.equal(read.spec.shape, 'round');
    assert.equal(read.metadata.resourceVersion, w.metadata.resourceVersion);
  });
});

test('pruning reaches into arrays and keeps what x-kubernetes-preserve-unknown-fields keeps, declared fields inside it still pruned', async () => {
  await withWidgets(async (h) => {
    const r = await call(h, 'POST', WIDGETS, widget('w', { size: 1, routes: [{ dst: 'a', gw: 'b' }], extra: { anything: [1, { deep: true }], kept: { a: 'x', b: 'y' } } }, { topLevel: 1 }));
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.spec.routes, [{ dst: 'a' }]);
    assert.deepEqual(r.body.spec.extra, { anything: [1, { deep: true }], kept: { a: 'x' } });
    assert.equal(r.body.topLevel, undefined);
    assert.equal(r.warnings, '299 - "unknown field \\"spec.extra.kept.b\\"", 299 - "unknown field \\"spec.routes[0].gw\\"", 299 - "unknown field \\"topLevel\\""');
  });
});

test('status subresource: create drops status, the main resource ignores it, /status validates only status with the real paths', async () => {
  await withWidgets(async (h) => {
    const created = (await call(h, 'POST', WIDGETS, widget('w', { size: 1 }, { status: { ready: 3 } }))).body;
    assert.equal(created.status, undefined);
    const main = await call(h, 'PUT', `${WIDGETS}/w`, { ...created, status: { ready: 5 } });
    assert.equal(main.body.status, undefined);
    const bad = await call(h, 'PUT', `${WIDGETS}/w/status`, { ...main.body, spec: { size: 99 }, status: { ready: -1 } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.message, 'Widget.example.com "w" is invalid: status.ready: Invalid value: -1: ready in body should be greater than or equal to 0');
    const ok = await call(h, 'PUT', `${WIDGETS}/w/status`, { ...main.body, spec: { size: 99 }, status: { ready: 2, junk: 1 } });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.status, { ready: 2 });
    assert.equal(ok.body.spec.size, 1, '/status changes only the status');
    assert.equal(ok.body.metadata.generation, 1);
  });
});

test('ratcheting: an object stored under a looser schema can still be updated, unless the invalid field itself changes', async () => {
  await withWidgets(async (h) => {
    const w = (await call(h, 'POST', WIDGETS, widget('w', { size: 8 }))).body;
    const crd = (await call(h, 'GET', `${CRDS}/widgets.example.com`)).body;
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.size.maximum = 5;
    assert.equal((await call(h, 'PUT', `${CRDS}/widgets.example.com`, crd)).status, 200);
    const relabelled = await call(h, 'PUT', `${WIDGETS}/w`, { ...w, metadata: { ...w.metadata, labels: { a: 'b' } }, spec: { ...w.spec, name: 'ok' } });
    assert.equal(relabelled.status, 200, JSON.stringify(relabelled.body));
    const grown = await call(h, 'PUT', `${WIDGETS}/w`, { ...relabelled.body, spec: { ...relabelled.body.spec, size: 9 } });
    assert.equal(grown.status, 422);
    assert.equal(grown.body.message, 'Widget.example.com "w" is invalid: spec.size: Invalid value: 9: spec.size in body should be less than or equal to 5');
    const fresh = await call(h, 'POST', WIDGETS, widget('v', { size: 8 }));
    assert.equal(fresh.status, 422, 'a create is held to the new schema');
  });
});
