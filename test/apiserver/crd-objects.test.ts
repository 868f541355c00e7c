// CustomResourceDefinitions are objects, as on the real server: validated on
// create and update with the real messages, established (names accepted, kind
// served, in discovery), changed in place, and deleted through the cleanup
// finalizer once their objects are gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openWatch, startHarness, type Harness } from './test-helpers.ts';
import { call, CRDS, type Reply, WIDGETS, widget, widgetCrd } from './crd-fixtures.ts';

async function withServer(run: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({ tidepoolKinds: false });
  try {
    await run(h);
  } finally {
    await h.close();
  }
}

const causes = (r: Reply): string[] => r.body.details.causes.map((c: { field: string; message: string }) => `${c.field}: ${c.message}`);

test('a CRD is established: names accepted, Established, its kind served and in discovery with short names and categories', async () => {
  await withServer(async (h) => {
    const created = await call(h, 'POST', CRDS, widgetCrd());
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.status, { acceptedNames: { kind: '', plural: '' }, storedVersions: ['v1'] }, 'the answer to the create is the object before the controllers ran');
    assert.equal(created.body.metadata.generation, 1);
    assert.deepEqual(created.body.spec.conversion, { strategy: 'None' });
    assert.equal(created.body.spec.names.listKind, 'WidgetList');
    const crd = (await call(h, 'GET', `${CRDS}/widgets.example.com`)).body;
    assert.deepEqual(
      crd.status.conditions.map((c: any) => [c.type, c.status, c.reason, c.message]),
      [
        ['NamesAccepted', 'True', 'NoConflicts', 'no conflicts found'],
        ['Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted'],
      ],
    );
    assert.deepEqual(crd.status.acceptedNames, { kind: 'Widget', plural: 'widgets', singular: 'widget', shortNames: ['wd'], listKind: 'WidgetList', categories: ['toys'] });
    const resources = (await call(h, 'GET', '/apis/example.com/v1')).body.resources;
    assert.deepEqual(resources[0], { name: 'widgets', singularName: 'widget', namespaced: true, kind: 'Widget', verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'], shortNames: ['wd'], categories: ['toys'] });
    assert.ok(resources.some((r: any) => r.name === 'widgets/status'));
    const crdResource = (await call(h, 'GET', '/apis/apiextensions.k8s.io/v1')).body.resources[0];
    assert.deepEqual([crdResource.name, crdResource.shortNames, crdResource.categories], ['customresourcedefinitions', ['crd', 'crds'], ['api-extensions']]);
    assert.equal((await call(h, 'POST', WIDGETS, widget('w', { size: 1 }))).status, 201);
  });
});

test('a CRD is validated as the real server validates it', async () => {
  await withServer(async (h) => {
    const bad = widgetCrd();
    bad.metadata.name = 'gadgets.example.com';
    bad.spec.group = 'example';
    bad.spec.scope = 'Everywhere';
    bad.spec.names.shortNames = ['Wd'];
    bad.spec.versions[0].storage = false;
    bad.spec.versions[0].additionalPrinterColumns = [{ name: 'X', type: 'float', jsonPath: 'spec.x' }];
    const r = await call(h, 'POST', CRDS, bad);
    assert.equal(r.status, 422);
    // The versions are the bad value of one error: only its text's ends are compared.
    const texts = causes(r).map((c) => c.replace(/^spec\.versions: Invalid value: \[.*\]: /, 'spec.versions: '));
    assert.deepEqual(texts, [
      'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group',
      'spec.group: Invalid value: "example": should be a domain with at least one dot',
      'spec.scope: Unsupported value: "Everywhere": supported values: "Cluster", "Namespaced"',
      'spec.versions[0].additionalPrinterColumns[0].type: Invalid value: "float": must be one of boolean,date,integer,number,string',
      'spec.versions[0].additionalPrinterColumns[0].JSONPath: Invalid value: "spec.x": must be a simple json path starting with .',
      'spec.versions: must have exactly one version marked as storage version',
      "spec.names.shortNames[0]: Invalid value: \"Wd\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      'status.storedVersions: Invalid value: []: must have at least one stored version',
    ]);
    assert.match(r.body.message, /^CustomResourceDefinition\.apiextensions\.k8s\.io "gadgets\.example\.com" is invalid: \[/);
  });
});

test('a schema that is not structural is refused with the real paths', async () => {
  await withServer(async (h) => {
    const crd = widgetCrd();
    const root = crd.spec.versions[0].schema.openAPIV3Schema;
    root.properties.metadata = { type: 'object', properties: { labels: { type: 'object' } } };
    root.properties.spec.properties.size = { minimum: 1 };
    root.properties.spec.properties.tags = { type: 'array' };
    root.properties.spec.properties.labels = { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } };
    root.properties.spec.properties.ref = { $ref: '#/definitions/x', type: 'string' };
    root.properties.spec.properties.color.default = 'blue';
    const r = await call(h, 'POST', CRDS, crd);
    assert.equal(r.status, 422);
    const at = 'spec.versions[0].schema.openAPIV3Schema';
    assert.deepEqual(causes(r), [
      `${at}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified`,
      `${at}.properties[spec].properties[size].type: Required value: must not be empty for specified object fields`,
      `${at}.properties[spec].properties[tags].items: Required value: must be specified`,
      `${at}.properties[spec].properties[labels].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`,
      `${at}.properties[spec].properties[ref].$ref: Forbidden: $ref is not supported`,
    ]);
    delete root.properties.metadata;
    root.properties.spec.properties.size = { type: 'integer' };
    root.properties.spec.properties.tags = { type: 'array', items: { type: 'string' } };
    root.properties.spec.properties.labels = { type: 'object', additionalProperties: { type: 'string' } };
    delete root.properties.spec.properties.ref;
    const defaults = await call(h, 'POST', CRDS, crd);
    assert.deepEqual(causes(defaults), [`${at}.properties[spec].properties[color].default: Unsupported value: "blue": supported values: "red", "green"`]);
  });
});

test('what this server cannot serve is refused, not ignored: more versions, conversion webhooks, CEL rules, scale', async () => {
  await withServer(async (h) => {
    const crd = widgetCrd();
    crd.spec.versions.push({ ...crd.spec.versions[0], name: 'v2', storage: false });
    crd.spec.conversion = { strategy: 'Webhook', webhook: { clientConfig: { url: 'https://example.com' }, conversionReviewVersions: ['v1'] } };
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec['x-kubernetes-validations'] = [{ rule: 'self.size > 0' }];
    crd.spec.versions[0].subresources.scale = { specReplicasPath: '.spec.size', statusReplicasPath: '.status.ready' };
    const r = await call(h, 'POST', CRDS, crd);
    assert.equal(r.status, 422);
    const text = causes(r).join('\n');
    assert.match(text, /spec\.versions\[0\]\.schema\.openAPIV3Schema\.properties\[spec\]\.x-kubernetes-validations: Forbidden: CEL validation rules are not supported/);
    assert.match(text, /spec\.versions\[0\]\.subresources\.scale: Forbidden/);
    assert.match(text, /spec\.versions: Forbidden: more than one version is not supported/);
    assert.match(text, /spec\.conversion\.strategy: Forbidden: conversion webhooks are not supported/);
  });
});

test('a CRD body is decoded as a typed object: unknown fields warned about (Strict: 400), wrong types a 400 with Go\'s message', async () => {
  await withServer(async (h) => {
    const crd = widgetCrd();
    crd.spec.colour = 'red';
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.size.const = 3;
    const strict = await call(h, 'POST', `${CRDS}?fieldValidation=Strict`, crd);
    assert.equal(strict.status, 400);
    assert.match(strict.body.message, /^CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: strict decoding error: unknown field "spec\.versions\[0\]\.schema\.openAPIV3Schema\.properties\.spec\.properties\.size\.const", unknown field "spec\.colour"$/);
    const warned = await call(h, 'POST', CRDS, crd);
    assert.equal(warned.status, 201);
    assert.equal(warned.body.spec.colour, undefined);
    assert.match(warned.warnings ?? '', /unknown field \\"spec\.colour\\"/);
    const typed = widgetCrd();
    typed.metadata.name = 'gizmos.example.com';
    typed.spec.names = { plural: 'gizmos', kind: 'Gizmo', shortNames: 'gz' };
    const wrong = await call(h, 'POST', CRDS, typed);
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.message, 'CustomResourceDefinition in version "v1" cannot be handled as a CustomResourceDefinition: json: cannot unmarshal string into Go struct field CustomResourceDefinitionNames.spec.names.shortNames of type []string');
  });
});

test('names clashing with another CRD of the group are not accepted, and the kind is not served', async () => {
  await withServer(async (h) => {
    await call(h, 'POST', CRDS, widgetCrd());
    const other = widgetCrd();
    other.metadata.name = 'gadgets.example.com';
    other.spec.names = { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', shortNames: ['wd'] };
    assert.equal((await call(h, 'POST', CRDS, other)).status, 201);
    const crd = (await call(h, 'GET', `${CRDS}/gadgets.example.com`)).body;
    assert.deepEqual(
      crd.status.conditions.map((c: any) => [c.type, c.status, c.reason, c.message]),
      [
        ['NamesAccepted', 'False', 'ShortNamesConflict', '"wd" is already in use'],
        ['Established', 'False', 'NotAccepted', 'not all names are accepted'],
      ],
    );
    assert.equal((await call(h, 'GET', '/apis/example.com/v1/namespaces/default/gadgets')).status, 404);
  });
});

test('a CRD update changes the served kind in place; group and plural are immutable, and kind once established', async () => {
  await withServer(async (h) => {
    await call(h, 'POST', CRDS, widgetCrd());
    await call(h, 'POST', WIDGETS, widget('w', { size: 1 }));
    const crd = (await call(h, 'GET', `${CRDS}/widgets.example.com`)).body;
    crd.spec.names.shortNames = ['wdg'];
    const updated = await call(h, 'PUT', `${CRDS}/widgets.example.com`, crd);
    assert.equal(updated.status, 200);
    assert.equal(updated.body.metadata.generation, 2);
    const resources = (await call(h, 'GET', '/apis/example.com/v1')).body.resources;
    assert.deepEqual(resources[0].shortNames, ['wdg']);
    assert.equal((await call(h, 'GET', `${WIDGETS}/w`)).status, 200, 'objects survive a CRD update');
    // The names were accepted since: the status changed after the update.
    const current = (await call(h, 'GET', `${CRDS}/widgets.example.com`)).body;
    assert.deepEqual(current.status.acceptedNames.shortNames, ['wdg']);
    assert.notEqual(current.metadata.resourceVersion, updated.body.metadata.resourceVersion);
    const moved = structuredClone(current);
    moved.spec.group = 'example.org';
    moved.spec.names.kind = 'Gizmo';
    const r = await call(h, 'PUT', `${CRDS}/widgets.example.com`, moved);
    assert.equal(r.status, 422);
    assert.deepEqual(causes(r).filter((c) => c.includes('immutable')), ['spec.names.kind: Invalid value: "Gizmo": field is immutable', 'spec.group: Invalid value: "example.org": field is immutable']);
    const noRv = await call(h, 'PUT', `${CRDS}/widgets.example.com`, { ...updated.body, metadata: { name: 'widgets.example.com' } });
    assert.equal(noRv.status, 422, 'CRDs need a resourceVersion to be updated');
  });
});

test('deleting a CRD: Terminating with the cleanup finalizer, its objects deleted, then it and its kind are gone', async () => {
  await withServer(async (h) => {
    await call(h, 'POST', CRDS, widgetCrd());
    await call(h, 'POST', WIDGETS, widget('a', { size: 1 }));
    await call(h, 'POST', WIDGETS, widget('b', { size: 2 }, { metadata: { name: 'b', finalizers: ['example.com/hold'] } }));
    const watch = await openWatch(h.kc, WIDGETS, { resourceVersion: h.server.resourceVersion() });
    try {
      const deleted = await call(h, 'DELETE', `${CRDS}/widgets.example.com`);
      assert.equal(deleted.status, 200);
      assert.ok(deleted.body.metadata.deletionTimestamp);
      assert.deepEqual(deleted.body.metadata.finalizers, ['customresourcecleanup.apiextensions.k8s.io']);
      assert.deepEqual(deleted.body.status.conditions.at(-1), { type: 'Terminating', status: 'True', lastTransitionTime: deleted.body.status.conditions.at(-1).lastTransitionTime, reason: 'InstanceDeletionPending', message: 'CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon' });
      const waiting = (await call(h, 'GET', `${CRDS}/widgets.example.com`)).body;
      assert.deepEqual([waiting.status.conditions.at(-1).reason, waiting.status.conditions.at(-1).status], ['InstanceDeletionInProgress', 'True'], 'an object with a finalizer of its own keeps the CRD Terminating');
      assert.equal((await call(h, 'GET', `${WIDGETS}/a`)).status, 404);
      const refused = await call(h, 'POST', WIDGETS, widget('c', { size: 1 }));
      assert.equal(refused.status, 405);
      assert.deepEqual([refused.body.reason, refused.body.message, refused.body.details], ['MethodNotAllowed', 'create not allowed while custom resource definition is terminating', { group: 'example.com', kind: 'widgets' }]);
      const resources = (await call(h, 'GET', '/apis/example.com/v1')).body.resources;
      assert.deepEqual(resources[0].verbs, ['delete', 'deletecollection', 'get', 'list', 'watch']);
      const b = (await call(h, 'GET', `${WIDGETS}/b`)).body;
      assert.equal((await call(h, 'PUT', `${WIDGETS}/b`, { ...b, metadata: { ...b.metadata, finalizers: [] } })).status, 200);
      assert.equal((await call(h, 'GET', `${CRDS}/widgets.example.com`)).status, 404);
      assert.equal((await call(h, 'GET', WIDGETS)).status, 404, 'the kind is no longer served');
      const events = await watch.waitFor(3);
      assert.deepEqual(events.map((e) => `${e.type} ${e.object.metadata.name}`), ['DELETED a', 'MODIFIED b', 'DELETED b']);
    } finally {
      watch.abort();
    }
    assert.equal((await call(h, 'POST', CRDS, widgetCrd())).status, 201, 'the CRD can be created again');
    assert.deepEqual((await call(h, 'GET', WIDGETS)).body.items, []);
  });
});
