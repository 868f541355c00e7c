// core/v1 Events are validated as the real server's legacy rules do
// (pkg/apis/core/validation/events.go): an Event lives in its involved
// object's namespace, and one about a cluster-scoped object in `default`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './test-helpers.ts';

const event = (namespace: string, involvedObject: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'e1', namespace },
  involvedObject,
  reason: 'IPReclaimed',
  message: 'reclaimed 10.0.0.1',
  type: 'Normal',
  ...extra,
});

const POOL = { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', name: 'lan' };

test('an Event about a cluster-scoped object is accepted in default and refused elsewhere, like the real server', async () => {
  const h = await startHarness();
  try {
    assert.equal((await h.raw('POST', '/api/v1/namespaces/default/events', event('default', POOL))).status, 201);
    const refused = await h.raw('POST', '/api/v1/namespaces/kube-system/events', event('kube-system', POOL));
    assert.equal(refused.status, 422);
    assert.equal(refused.body.reason, 'Invalid');
    assert.equal(refused.body.message, 'Event "e1" is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace');
    assert.deepEqual(refused.body.details.causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: "": does not match event.namespace', field: 'involvedObject.namespace' }]);
  } finally {
    await h.close();
  }
});

test("an Event about a namespaced object must be in that object's namespace", async () => {
  const h = await startHarness();
  try {
    const pod = { apiVersion: 'v1', kind: 'Pod', namespace: 'default', name: 'web' };
    assert.equal((await h.raw('POST', '/api/v1/namespaces/kube-system/events', event('kube-system', pod))).status, 422);
    const ok = await h.raw('POST', '/api/v1/namespaces/default/events', event('default', pod));
    assert.equal(ok.status, 201);
    // The rule holds for updates too.
    const moved = { ...ok.body, involvedObject: { ...pod, namespace: 'kube-system' } };
    assert.equal((await h.raw('PUT', '/api/v1/namespaces/default/events/e1', moved)).status, 422);
  } finally {
    await h.close();
  }
});

test('an Event with eventTime needs reportingComponent (the Go field reportingController), reportingInstance, action and reason, within their lengths', async () => {
  const h = await startHarness();
  try {
    const newStyle = { eventTime: '2030-01-02T03:04:05.000000Z', reportingComponent: 'tidepool.dev/controller', reportingInstance: 'c-1', action: 'Reclaim' };
    assert.equal((await h.raw('POST', '/api/v1/namespaces/kube-system/events', event('kube-system', POOL, newStyle))).status, 201, 'kube-system is allowed for new-style Events');
    const missing = await h.raw('POST', '/api/v1/namespaces/default/events', event('default', POOL, { eventTime: newStyle.eventTime, reason: '' }));
    assert.equal(missing.status, 422);
    assert.deepEqual(
      missing.body.details.causes.map((c: { field: string }) => c.field),
      ['reportingController', 'reportingController', 'reportingInstance', 'action', 'reason'],
    );
    const long = await h.raw('POST', '/api/v1/namespaces/default/events', event('default', POOL, { ...newStyle, message: 'x'.repeat(1025) }));
    assert.equal(long.status, 422);
    assert.match(long.body.message, /message: Invalid value: "": can have at most 1024 characters/);
  } finally {
    await h.close();
  }
});
