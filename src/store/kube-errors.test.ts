import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeApiError } from '../k8s/rest.ts';
import { TidepoolError } from '../ipam/errors.ts';
import { storeError } from './kube-errors.ts';

// Every answer an API server (or the path to it) can give an agent's request, and what the ADD or DEL fails with.
const cases: Array<[status: number, reason: string, code: string, retry: string]> = [
  [0, 'ConnectionFailed', 'STORE_BUSY', 'later'], // refused, reset, broken keep-alive socket
  [409, 'Conflict', 'STORE_BUSY', 'later'], // someone else wrote first, again and again
  [409, 'AlreadyExists', 'STORE_BUSY', 'later'],
  [410, 'Expired', 'STORE_BUSY', 'later'],
  [429, 'TooManyRequests', 'STORE_BUSY', 'later'], // API priority and fairness
  [500, 'InternalError', 'STORE_BUSY', 'later'],
  [502, 'Unknown', 'STORE_BUSY', 'later'], // a proxy in front of the API server
  [503, 'ServiceUnavailable', 'STORE_BUSY', 'later'],
  [504, 'Timeout', 'STORE_BUSY', 'later'], // the server's timeout, or the client's own
  [401, 'Unauthorized', 'STORE_REFUSED', 'after-fix'], // even after refreshing the credentials
  [403, 'Forbidden', 'STORE_REFUSED', 'after-fix'], // RBAC
  [404, 'NotFound', 'STORE_REFUSED', 'after-fix'], // the CRDs are not installed
  [400, 'BadRequest', 'STORE_REFUSED', 'after-fix'],
  [422, 'Invalid', 'STORE_REFUSED', 'after-fix'], // CRDs older than tidepool
];

for (const [status, reason, code, retry] of cases) {
  test(`API answer ${status} ${reason} fails the operation with ${code} (retry ${retry})`, () => {
    const err = storeError(new KubeApiError(status, reason, `create /apis/tidepool.dev/v1alpha1/ipallocations: ${reason}`), 'create');
    assert.equal(err.code, code);
    assert.equal(err.spec.retry, retry);
    assert.equal(err.message, `kubernetes create: create /apis/tidepool.dev/v1alpha1/ipallocations: ${reason}`);
    assert.deepEqual(err.details, { status, reason });
  });
}

test('a TidepoolError passes unchanged; anything else is a bug in tidepool (INTERNAL)', () => {
  const busy = new TidepoolError('STORE_BUSY', 'kept changing');
  assert.equal(storeError(busy, 'update'), busy);
  assert.equal(storeError(new TypeError('x is undefined'), 'update').code, 'INTERNAL');
});
