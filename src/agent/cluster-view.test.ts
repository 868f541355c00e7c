import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TidepoolError } from '../ipam/errors.ts';
import { KubeApiError, type KubeRest } from '../k8s/rest.ts';
import { silentLogger } from '../util/logger.ts';
import { createAgentClusterView } from './cluster-view.ts';

/** A client whose every read of a pod fails as `answer` says; nothing else is called in these tests. */
function failingRest(answer: KubeApiError): KubeRest {
  const never = () => Promise.reject(new Error('not used'));
  return { get: () => Promise.reject(answer), list: never, create: never, replace: never, patch: never, delete: never, watch: never, close() {} };
}

// An ADD for a pod this node's watch cache has not seen yet reads the pod from the API server.
const failures: Array<[KubeApiError, string]> = [
  [new KubeApiError(503, 'ServiceUnavailable', 'GET /api/v1/namespaces/default/pods/web: the server is currently unable to handle the request'), 'STORE_BUSY'],
  [new KubeApiError(429, 'TooManyRequests', 'GET /api/v1/namespaces/default/pods/web: Too many requests, please try again later.'), 'STORE_BUSY'],
  [new KubeApiError(0, 'ConnectionFailed', 'GET /api/v1/namespaces/default/pods/web: read ECONNRESET'), 'STORE_BUSY'],
  [new KubeApiError(504, 'Timeout', 'GET /api/v1/namespaces/default/pods/web: no answer within 30000 ms'), 'STORE_BUSY'],
  [new KubeApiError(403, 'Forbidden', 'GET /api/v1/namespaces/default/pods/web: pods "web" is forbidden'), 'STORE_REFUSED'],
];

for (const [answer, code] of failures) {
  test(`a pod read that fails with ${answer.status} ${answer.reason} fails the ADD with ${code}, naming the pod and the answer`, async () => {
    const view = createAgentClusterView({ rest: failingRest(answer), nodeName: 'node-1', log: silentLogger });
    await assert.rejects(view.pod('default', 'web'), (err: unknown) => {
      assert.ok(err instanceof TidepoolError, `a TidepoolError, not ${String(err)}`);
      assert.equal(err.code, code);
      assert.match(err.message, /pod default\/web/);
      assert.ok(err.message.includes(answer.message), err.message);
      return true;
    });
  });
}

test('a pod the API server does not have is no pod', async () => {
  const view = createAgentClusterView({ rest: failingRest(new KubeApiError(404, 'NotFound', 'pods "web" not found')), nodeName: 'node-1', log: silentLogger });
  assert.equal(await view.pod('default', 'web'), undefined);
});
