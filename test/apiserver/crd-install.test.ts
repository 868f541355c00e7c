// tidepool's kinds are served from the CRDs users apply: the simulator's
// copy of deploy/tidepool/crds/ (tidepool-crds.generated.ts) is the files
// byte for byte, and a server installs them as objects it then serves by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { TIDEPOOL_CRD_FILES } from '../../src/apiserver/tidepool-crds.generated.ts';
import { crdFiles } from './tidepool-crds.ts';
import { startHarness } from './test-helpers.ts';

test('the generated module carries deploy/tidepool/crds/ byte for byte (run npm run gen:crds after a schema change)', () => {
  const files = crdFiles().map((f) => ({ fileName: basename(f), text: readFileSync(f, 'utf8') }));
  assert.deepEqual(TIDEPOOL_CRD_FILES, files);
});

test('a server started with tidepool kinds holds the CRDs as objects, Established, and serves their kinds by them', async () => {
  const h = await startHarness();
  try {
    const crds = await h.raw('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions');
    assert.equal(crds.status, 200);
    const names = crds.body.items.map((c: any) => c.metadata.name).sort();
    assert.deepEqual(names, ['ipallocations.tidepool.dev', 'ippools.tidepool.dev', 'reservedips.tidepool.dev']);
    for (const c of crds.body.items) assert.ok(c.status.conditions.some((x: any) => x.type === 'Established' && x.status === 'True'), c.metadata.name);
    const list = await h.raw('GET', '/apis/tidepool.dev/v1alpha1');
    const pools = list.body.resources.find((r: any) => r.name === 'ippools');
    assert.deepEqual(pools.shortNames, ['tpool']);
    assert.deepEqual(pools.categories, ['tidepool']);
  } finally {
    await h.close();
  }
});

test('OpenAPI: /openapi/v3 lists the CRD-served group-versions, /openapi/v2 has their definitions in JSON or protobuf', async () => {
  const h = await startHarness();
  try {
    const root = await h.raw('GET', '/openapi/v3');
    const url = root.body.paths['apis/tidepool.dev/v1alpha1'].serverRelativeURL;
    assert.match(url, /^\/openapi\/v3\/apis\/tidepool\.dev\/v1alpha1\?hash=[0-9A-F]{128}$/);
    const doc = (await h.raw('GET', url)).body;
    const ippool = doc.components.schemas['dev.tidepool.v1alpha1.IPPool'];
    assert.deepEqual(ippool['x-kubernetes-group-version-kind'], [{ group: 'tidepool.dev', kind: 'IPPool', version: 'v1alpha1' }]);
    assert.deepEqual(ippool.required, ['spec']);
    const patch = doc.paths['/apis/tidepool.dev/v1alpha1/ippools/{name}'].patch;
    assert.ok(patch.parameters.some((p: any) => p.name === 'fieldValidation' && p.in === 'query'));
    assert.equal((await h.raw('GET', '/openapi/v3/apis/example.com/v1')).status, 404);
    const v2 = (await h.raw('GET', '/openapi/v2')).body;
    assert.equal(v2.swagger, '2.0');
    assert.deepEqual(v2.definitions['dev.tidepool.v1alpha1.IPAllocation']['x-kubernetes-group-version-kind'], [{ group: 'tidepool.dev', kind: 'IPAllocation', version: 'v1alpha1' }]);
    const pb = await fetch(`${h.server.url}/openapi/v2`, { headers: { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } });
    assert.equal(pb.headers.get('content-type'), 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    const bytes = Buffer.from(await pb.arrayBuffer());
    // Field 1 (swagger) first: tag 0x0a, length 3, "2.0".
    assert.deepEqual([...bytes.subarray(0, 5)], [0x0a, 3, 0x32, 0x2e, 0x30]);
    assert.ok(bytes.includes(Buffer.from('dev.tidepool.v1alpha1.IPPool')));
  } finally {
    await h.close();
  }
});

test('Table: get and list answer a meta.k8s.io Table with the CRD\'s columns when asked; plain objects otherwise', async () => {
  const h = await startHarness();
  try {
    await h.raw('POST', '/apis/tidepool.dev/v1alpha1/ippools', { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'lan' }, spec: { subnet: '10.0.0.0/24', disable: true }, status: { allocatedIPCount: 3 } });
    const accept = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
    const res = await fetch(`${h.server.url}/apis/tidepool.dev/v1alpha1/ippools`, { headers: { accept } });
    const table: any = await res.json();
    assert.equal(table.kind, 'Table');
    assert.equal(table.apiVersion, 'meta.k8s.io/v1');
    assert.deepEqual(table.columnDefinitions.map((c: any) => `${c.name}:${c.type}:${c.priority}`), ['Name:string:0', 'Subnet:string:0', 'Total:string:0', 'Allocated:integer:0', 'Default:boolean:0', 'Disable:boolean:0', 'Age:date:0']);
    assert.deepEqual(table.rows[0].cells.slice(0, 6), ['lan', '10.0.0.0/24', null, null, null, true]);
    assert.match(table.rows[0].cells[6], /^\d+s$/);
    assert.deepEqual(table.rows[0].object.kind, 'PartialObjectMetadata');
    const one: any = await (await fetch(`${h.server.url}/apis/tidepool.dev/v1alpha1/ippools/lan?includeObject=None`, { headers: { accept } })).json();
    assert.deepEqual([one.kind, one.rows.length, one.rows[0].object], ['Table', 1, undefined]);
    const plain: any = await (await fetch(`${h.server.url}/apis/tidepool.dev/v1alpha1/ippools`, { headers: { accept: 'application/json' } })).json();
    assert.equal(plain.kind, 'IPPoolList');
  } finally {
    await h.close();
  }
});
