// Field sets and the typed walks behind managedFields: FieldsV1 as the real
// server writes it, which paths a value sets (struct fields versus map keys,
// atomic values, keyed lists, sets), comparisons, paths as conflicts print
// them, and the cap of ten Update entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinKinds } from '../../src/apiserver/builtin-kinds.ts';
import { kindForCrd } from '../../src/apiserver/crd/custom-kind.ts';
import { FieldSet, pathString } from '../../src/apiserver/patch/fieldset.ts';
import { kindType, zeroObject } from '../../src/apiserver/patch/kind-types.ts';
import { capUpdateManagers, decodeManagedFields, decodeStoredManagedFields, encodeManagedFields, identifier } from '../../src/apiserver/patch/managed-fields.ts';
import { compare, toFieldSet, TypedValueError } from '../../src/apiserver/patch/typed-sets.ts';
import { tidepoolCrds } from '../../src/apiserver/tidepool-kinds.ts';
import type { KubeObject } from '../../src/apiserver/kinds.ts';

const podKind = builtinKinds().find((k) => k.plural === 'pods')!;
const POD = kindType(podKind);
// IPPool's kind as its CRD in deploy/tidepool/crds/ makes it.
const POOL = kindType(kindForCrd(tidepoolCrds().find((c) => (c['spec'] as { names: { kind: string } }).names.kind === 'IPPool') as KubeObject));

test('FieldsV1: members are {}, members with paths below get ".", elements in the real order', () => {
  const set = FieldSet.of(['f:spec', 'f:b'], ['f:spec', 'f:a'], ['f:spec'], ['f:list', 'i:10'], ['f:list', 'i:9'], ['f:list', 'v:"x"'], ['f:list', 'k:{"name":"a"}']);
  const v1 = set.toFieldsV1();
  assert.deepEqual(JSON.stringify(v1), JSON.stringify({ 'f:list': { 'k:{"name":"a"}': {}, 'v:"x"': {}, 'i:9': {}, 'i:10': {} }, 'f:spec': { '.': {}, 'f:a': {}, 'f:b': {} } }));
  assert.ok(FieldSet.fromFieldsV1(v1).equals(set));
  assert.deepEqual(set.paths().map(pathString), ['.spec', '.list[name="a"]', '.list[="x"]', '.list[9]', '.list[10]', '.spec.a', '.spec.b']);
});

test('the paths a value sets: struct fields are not members, map keys and empty objects are; atomic and keyed values', () => {
  const pod = {
    metadata: { labels: { app: 'web' }, ownerReferences: [{ uid: 'u1', kind: 'X', name: 'x' }], finalizers: ['f'] },
    spec: { nodeSelector: { zone: 'a' }, containers: [{ name: 'app', image: 'i', ports: [{ containerPort: 80 }], resources: {} }], tolerations: [{ key: 'k' }] },
  };
  assert.deepEqual(toFieldSet(pod, POD).toFieldsV1(), {
    'f:metadata': { 'f:finalizers': { 'v:"f"': {} }, 'f:labels': { 'f:app': {} }, 'f:ownerReferences': { 'k:{"uid":"u1"}': {} } },
    'f:spec': {
      'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {}, 'f:ports': { 'k:{"containerPort":80,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } }, 'f:resources': {} } },
      'f:nodeSelector': {},
      'f:tolerations': {},
    },
  });
  assert.throws(() => toFieldSet({ spec: { containers: [{ image: 'i' }] } }, POD), TypedValueError);
  assert.throws(() => toFieldSet({ spec: { containers: [{ name: 'a' }, { name: 'a' }] } }, POD, true), /duplicate entries for key \[name="a"\]/);
  assert.deepEqual(toFieldSet({ spec: { ips: ['a', 'b'], nodeAffinity: { matchLabels: { k: 'v' } } } }, POOL).toFieldsV1(), { 'f:spec': { 'f:ips': {}, 'f:nodeAffinity': { 'f:matchLabels': { 'f:k': {} } } } }, 'custom resource lists are atomic');
});

test('comparing: a create from the kind\'s empty object owns no container the empty object has', () => {
  const c = compare(zeroObject(podKind), { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'app', image: 'i' }] }, status: {} }, POD);
  assert.deepEqual(c.added.toFieldsV1(), { 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } });
  const change = compare({ spec: { subnet: 'a', gateway: 'g' } }, { spec: { subnet: 'b', ips: ['x'] } }, POOL);
  assert.deepEqual([change.added.paths().map(pathString), change.modified.paths().map(pathString), change.removed.paths().map(pathString)], [['.spec.ips'], ['.spec.subnet'], ['.spec.gateway']]);
});

test('managedFields decode and encode: applies first, then by time; undecodable entries are refused', () => {
  const entries = [
    { manager: 'b', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:02Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } },
    { manager: 'a', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:01Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } },
    { manager: 'z', operation: 'Apply', apiVersion: 'v1', time: '2026-01-01T00:00:03Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:x': {} } },
  ];
  assert.deepEqual(encodeManagedFields(decodeManagedFields(entries))!.map((e) => e['manager']), ['z', 'a', 'b']);
  assert.throws(() => decodeManagedFields([{ manager: 'a', operation: 'Patch', apiVersion: 'v1', fieldsType: 'FieldsV1' }]), /operation must be `Apply` or `Update`/);
  assert.throws(() => decodeManagedFields([{ manager: 'a', operation: 'Update', apiVersion: 'v1' }]), /missing fieldsType/);
  assert.equal(identifier({ manager: 'kubectl', operation: 'Apply', apiVersion: 'v1' }), '{"manager":"kubectl","operation":"Apply"}');
});

test('at most ten Update entries: the oldest merge into ancient-changes', () => {
  const entries = Array.from({ length: 12 }, (_, i) => ({ manager: `m${String(i).padStart(2, '0')}`, operation: 'Update', apiVersion: 'v1', time: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z`, fieldsType: 'FieldsV1', fieldsV1: { [`f:f${i}`]: {} } }));
  const managed = decodeManagedFields(entries);
  capUpdateManagers(managed);
  const out = encodeManagedFields(managed)!;
  assert.equal(out.length, 10);
  const ancient = out.find((e) => e['manager'] === 'ancient-changes')!;
  assert.deepEqual([ancient['fieldsV1'], ancient['time']], [{ 'f:f0': {}, 'f:f1': {}, 'f:f2': {} }, '2026-01-01T00:00:02Z']);
  assert.ok(!out.some((e) => ['m00', 'm01', 'm02'].includes(String(e['manager']))));
});

test('set algebra: union, difference and intersection work level by level; removing a member leaves the paths below it', () => {
  const a = FieldSet.of(['f:spec'], ['f:spec', 'f:a'], ['f:spec', 'f:b', 'f:c'], ['f:status']);
  const b = FieldSet.of(['f:spec', 'f:a'], ['f:spec', 'f:b', 'f:d'], ['f:data']);
  assert.deepEqual(a.union(b).toFieldsV1(), { 'f:data': {}, 'f:spec': { '.': {}, 'f:a': {}, 'f:b': { 'f:c': {}, 'f:d': {} } }, 'f:status': {} });
  assert.deepEqual(a.difference(b).toFieldsV1(), { 'f:spec': { '.': {}, 'f:b': { 'f:c': {} } }, 'f:status': {} });
  assert.deepEqual(a.intersection(b).toFieldsV1(), { 'f:spec': { 'f:a': {} } });
  assert.deepEqual(a.difference(FieldSet.of(['f:spec'])).toFieldsV1(), { 'f:spec': { 'f:a': {}, 'f:b': { 'f:c': {} } }, 'f:status': {} });
  assert.deepEqual(a.recursiveDifference(FieldSet.of(['f:spec'])).toFieldsV1(), { 'f:status': {} });
  assert.ok(a.intersection(FieldSet.of(['f:spec', 'f:b'])).isEmpty(), 'a path below a member is not the member');
  assert.deepEqual(a.toFieldsV1(), { 'f:spec': { '.': {}, 'f:a': {}, 'f:b': { 'f:c': {} } }, 'f:status': {} }, 'the operands are unchanged');
});

test('comparing: unchanged parts add no paths, yet a keyed list item without its key is refused as when it changes', () => {
  const live = { metadata: { labels: { a: '1' } }, spec: { containers: [{ name: 'app', image: 'i', ports: [{ containerPort: 80 }] }] } };
  const next = { metadata: { labels: { a: '2' } }, spec: structuredClone(live.spec) };
  const c = compare(live, next, POD);
  assert.deepEqual([c.added.isEmpty(), c.modified.paths().map(pathString), c.removed.isEmpty()], [true, ['.metadata.labels.a'], true]);
  const unnamed = { metadata: { labels: { a: '1' } }, spec: { containers: [{ image: 'i' }] } };
  assert.throws(() => compare(unnamed, { ...unnamed, metadata: { labels: { a: '2' } } }, POD), /omits key field "name"/);
  assert.throws(() => compare(unnamed, unnamed, POD), /omits key field "name"/);
  const twice = { spec: { containers: [{ name: 'a', ports: [{}] }, { name: 'a', ports: [{}] }] } };
  assert.doesNotThrow(() => compare(twice, structuredClone(twice), POD), 'items sharing a name compare whole, so nothing below them is named');
});

test('managedFields a write stored decode to what was encoded, and changing one decode leaves the next whole', () => {
  const encoded = encodeManagedFields(decodeManagedFields([{ manager: 'a', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:01Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} } }]))!;
  const first = decodeStoredManagedFields(encoded);
  first.clear();
  assert.deepEqual([...decodeStoredManagedFields(encoded).keys()], ['{"manager":"a","operation":"Update","apiVersion":"v1"}']);
  assert.deepEqual(encodeManagedFields(decodeStoredManagedFields(encoded)), encoded);
});
