// The REST client reports every request to the API server through its
// metrics sink: verb and resource as the API server names them, the HTTP
// status (or none when no answer came), latency for requests but not watches.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeRest, type KubeRest } from '../src/k8s/rest.ts';
import { createFakeApiServer, type FakeApiServer } from './apiserver/server.ts';

interface Seen {
  verb: string;
  resource: string;
  code: string;
  timed: boolean;
}

let server: FakeApiServer;
let rest: KubeRest;
const seen: Seen[] = [];

before(async () => {
  server = await createFakeApiServer();
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  rest = await createKubeRest(kc, { timeoutMs: 2_000, metrics: { request: (verb, resource, code, seconds) => void seen.push({ verb, resource, code, timed: seconds !== undefined && seconds >= 0 }) } });
});

after(async () => {
  rest.close();
  await server.close();
});

test('each request is reported once with its verb, resource, status and a latency', async () => {
  seen.length = 0;
  await rest.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'a' } });
  await rest.get('/api/v1/nodes/a');
  await rest.list('/api/v1/nodes');
  await rest.patch('/api/v1/nodes/a', { metadata: { labels: { k: 'v' } } });
  await assert.rejects(rest.get('/api/v1/nodes/missing'));
  assert.deepEqual(seen, [
    { verb: 'create', resource: 'nodes', code: '201', timed: true },
    { verb: 'get', resource: 'nodes', code: '200', timed: true },
    { verb: 'list', resource: 'nodes', code: '200', timed: true },
    { verb: 'patch', resource: 'nodes', code: '200', timed: true },
    { verb: 'get', resource: 'nodes', code: '404', timed: true },
  ]);
});

test('an injected 500 is reported with its code; a watch without a latency', async () => {
  seen.length = 0;
  const fault = server.injectFault({ verb: 'list', resource: 'nodes', status: 500, times: 1 });
  await assert.rejects(rest.list('/api/v1/nodes'));
  fault.remove();
  const stop = new AbortController();
  const watching = rest.watch('/api/v1/nodes', { resourceVersion: server.resourceVersion() }, () => stop.abort(), stop.signal);
  await rest.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'b' } });
  await watching;
  assert.deepEqual(
    seen.filter((s) => s.verb !== 'create'),
    [
      { verb: 'list', resource: 'nodes', code: '500', timed: true },
      { verb: 'watch', resource: 'nodes', code: '200', timed: false },
    ],
  );
});

test('a request that gets no answer is reported as code none', async () => {
  const kc = new KubeConfig();
  // A port nothing listens on: the connection is refused.
  kc.loadFromString(server.kubeconfig().replace(String(server.port), '1'));
  const calls: Seen[] = [];
  const dead = await createKubeRest(kc, { metrics: { request: (verb, resource, code, seconds) => void calls.push({ verb, resource, code, timed: seconds !== undefined }) } });
  try {
    await assert.rejects(dead.get('/api/v1/nodes/n1'));
  } finally {
    dead.close();
  }
  // A read that fails to connect is sent once more (a keep-alive socket may have been closed): both are reported.
  assert.deepEqual(calls, [
    { verb: 'get', resource: 'nodes', code: 'none', timed: true },
    { verb: 'get', resource: 'nodes', code: 'none', timed: true },
  ]);
});
