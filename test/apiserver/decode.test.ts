// Built-in kinds decoded into their Go types, as the real server's decoder
// does: wrong types are 400 with encoding/json's words, times and
// quantities must parse, unknown fields follow fieldValidation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderBuiltinTypes } from '../../scripts/builtin-types-plan.ts';
import { startInProcess } from './in-process.ts';

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
const PODS = '/api/v1/namespaces/default/pods';
const container = { name: 'c', image: 'registry.example/app:1' };

test('the committed Go struct table is what the generator writes from @kubernetes/client-node', () => {
  const committed = readFileSync(new URL('../../src/apiserver/builtin/types.generated.ts', import.meta.url), 'utf8');
  assert.equal(committed, renderBuiltinTypes(), 'run: node --import tsx scripts/gen-builtin-types.ts');
});

test('a field of the wrong type is a 400 with the decoder\'s message', async () => {
  const s = startInProcess();
  try {
    const cases: Array<[string, unknown, string]> = [
      [LEASES, { metadata: { name: 'l' }, spec: { leaseDurationSeconds: '15' } }, 'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32'],
      [LEASES, { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 1.5 } }, 'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal number 1.5 into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32'],
      [PODS, { metadata: { name: 'p' }, spec: { containers: { name: 'c' } } }, 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container'],
      [PODS, { metadata: { name: 'p' }, spec: { containers: [{ ...container, env: [{ name: 'N', value: 9 }] }] } }, 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of type string'],
      [PODS, { metadata: { name: 'p', labels: { on: true } }, spec: { containers: [container] } }, 'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string'],
      [PODS, { metadata: { name: 'p' }, spec: { containers: [{ ...container, resources: { limits: { cpu: 'lots' } } }] } }, "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"],
    ];
    for (const [path, body, message] of cases) {
      const r = await s.call('POST', path, { body });
      assert.equal(r.status, 400, message);
      assert.equal(r.body.reason, 'BadRequest');
      assert.equal(r.body.message, message);
    }
  } finally {
    s.stop();
  }
});

test('Lease times are MicroTime: exactly six digits of fraction; stored in UTC', async () => {
  const s = startInProcess();
  try {
    const bad = await s.call('POST', LEASES, { body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', renewTime: '2030-05-01T00:00:00Z' } } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.message, 'Lease in version "v1" cannot be handled as a Lease: parsing time "2030-05-01T00:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"');
    const ok = await s.call('POST', LEASES, { body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: '2030-05-01T02:00:00.123456+02:00' } } });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.spec.renewTime, '2030-05-01T00:00:00.123456Z');
  } finally {
    s.stop();
  }
});

test('metav1.Time accepts any fraction and is stored in whole seconds; a bad one is Go\'s parse error', async () => {
  const s = startInProcess();
  try {
    const event = (t: string) => ({ metadata: { name: 'e' }, involvedObject: { kind: 'Pod', namespace: 'default', name: 'p' }, reason: 'R', firstTimestamp: t });
    const ok = await s.call('POST', '/api/v1/namespaces/default/events', { body: event('2030-05-01T00:00:00.987Z') });
    assert.equal(ok.status, 201);
    assert.equal(ok.body.firstTimestamp, '2030-05-01T00:00:00Z');
    const bad = await s.call('POST', '/api/v1/namespaces/default/events', { body: { ...event('2030-13-01T00:00:00Z'), metadata: { name: 'f' } } });
    assert.equal(bad.body.message, 'Event in version "v1" cannot be handled as a Event: parsing time "2030-13-01T00:00:00Z": month out of range');
  } finally {
    s.stop();
  }
});

test('unknown fields: dropped with a Warning header by default, dropped silently with Ignore, a 400 listing them with Strict', async () => {
  const s = startInProcess();
  try {
    const body = (name: string) => ({ metadata: { name, colour: 'red' }, spec: { containers: [{ ...container, volumeMount: [] }] }, extra: 1 });
    const warned = await s.call('POST', PODS, { body: body('w') });
    assert.equal(warned.status, 201);
    assert.equal(warned.headers['warning'], '299 - "unknown field \\"metadata.colour\\"", 299 - "unknown field \\"spec.containers[0].volumeMount\\"", 299 - "unknown field \\"extra\\""');
    assert.equal(warned.body.extra, undefined);
    assert.equal(warned.body.metadata.colour, undefined);
    const ignored = await s.call('POST', PODS, { body: body('i'), query: { fieldValidation: 'Ignore' } });
    assert.equal(ignored.status, 201);
    assert.equal(ignored.headers['warning'], undefined);
    const strict = await s.call('POST', PODS, { body: body('s'), query: { fieldValidation: 'Strict' } });
    assert.equal(strict.status, 400);
    assert.equal(strict.body.message, 'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "metadata.colour", unknown field "spec.containers[0].volumeMount", unknown field "extra"');
    const bad = await s.call('POST', PODS, { body: body('x'), query: { fieldValidation: 'Loud' } });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.message, 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud": supported values: "Ignore", "Warn", "Strict"');
  } finally {
    s.stop();
  }
});

test('patches are decoded too: a merge patch adding an unknown field warns, one of the wrong type is refused', async () => {
  const s = startInProcess();
  try {
    await s.call('POST', LEASES, { body: { metadata: { name: 'l' }, spec: {} } });
    const warned = await s.call('PATCH', `${LEASES}/l`, { body: { spec: { holder: 'x' } }, contentType: 'application/merge-patch+json' });
    assert.equal(warned.status, 200);
    assert.equal(warned.headers['warning'], '299 - "unknown field \\"spec.holder\\""');
    const typed = await s.call('PATCH', `${LEASES}/l`, { body: { spec: { leaseTransitions: 'many' } }, contentType: 'application/merge-patch+json' });
    assert.equal(typed.status, 400);
    assert.match(typed.body.message, /cannot unmarshal string into Go struct field LeaseSpec\.spec\.leaseTransitions of type int32$/);
  } finally {
    s.stop();
  }
});

test('Lease validation: positive duration, non-negative transitions, a preferred holder only with a strategy', async () => {
  const s = startInProcess();
  try {
    const r = await s.call('POST', LEASES, { body: { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0, leaseTransitions: -1, preferredHolder: 'me' } } });
    assert.equal(r.status, 422);
    assert.deepEqual(r.body.details.causes.map((c: any) => `${c.field}: ${c.message}`), [
      'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
      'spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0',
      'spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined',
    ]);
  } finally {
    s.stop();
  }
});
