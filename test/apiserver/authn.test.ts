// Bearer-token authentication, off unless asked for: what the real server
// answers a minted, expired, revoked, unknown or missing token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { createFakeApiServer } from './server.ts';

const UNAUTHORIZED = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };

async function get(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

test('off by default: any request is served, whatever its token', async () => {
  const server = await createFakeApiServer();
  try {
    assert.equal((await get(`${server.url}/api/v1/pods`)).status, 200);
    assert.equal((await get(`${server.url}/api/v1/pods`, 'nonsense')).status, 200);
  } finally {
    await server.close();
  }
});

test('on: minted tokens work until they expire or are revoked, then get the real 401 Status on every path', async () => {
  const server = await createFakeApiServer({ authentication: true });
  try {
    const pods = `${server.url}/api/v1/pods`;
    const short = server.mintToken(300);
    const long = server.mintToken(60_000);
    assert.equal((await get(pods, short)).status, 200);
    assert.equal((await get(pods, long)).status, 200);
    await delay(400);
    assert.deepEqual(await get(pods, short), { status: 401, body: UNAUTHORIZED }, 'expired');
    assert.deepEqual(await get(`${server.url}/healthz`, short), { status: 401, body: UNAUTHORIZED }, 'a bad token is refused even where no token is needed');
    server.revokeToken(long);
    assert.deepEqual(await get(pods, long), { status: 401, body: UNAUTHORIZED }, 'revoked');
    assert.deepEqual(await get(pods, 'made-up'), { status: 401, body: UNAUTHORIZED }, 'unknown');
    assert.equal(server.stats().responses['401'], 4);
  } finally {
    await server.close();
  }
});

test("on: the kubeconfig's own token never expires; no token at all is system:anonymous", async () => {
  const server = await createFakeApiServer({ authentication: true });
  try {
    const token = /token: (\S+)/.exec(server.kubeconfig())![1]!;
    assert.equal((await get(`${server.url}/apis/tidepool.dev/v1alpha1/ippools`, token)).status, 200);
    const anonymous = await get(`${server.url}/apis/tidepool.dev/v1alpha1/ippools`);
    assert.equal(anonymous.status, 403);
    assert.equal(anonymous.body.message, 'ippools.tidepool.dev is forbidden: User "system:anonymous" cannot list resource "ippools" in API group "tidepool.dev" at the cluster scope');
    const named = (await get(`${server.url}/api/v1/namespaces/default/pods/x/status`)).body;
    assert.equal(named.message, 'pods "x" is forbidden: User "system:anonymous" cannot get resource "pods/status" in API group "" in the namespace "default"');
    assert.deepEqual(named.details, { name: 'x', kind: 'pods' }, 'details name the object and its resource, without the subresource');
    assert.equal((await get(`${server.url}/healthz`)).status, 200, 'health is public');
    assert.equal((await get(`${server.url}/api`)).status, 403);
  } finally {
    await server.close();
  }
});

test('kubeconfig(user) writes the user given, e.g. a token file or an exec plugin', async () => {
  const server = await createFakeApiServer();
  try {
    const text = server.kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '/bin/get-token', args: ['--now'] } });
    assert.match(text, /^users:\n- name: tidepool-fake\n {2}user:\n {4}exec:\n {6}apiVersion: client\.authentication\.k8s\.io\/v1\n {6}command: \/bin\/get-token\n {6}args:\n {8}- --now\n/m);
  } finally {
    await server.close();
  }
});
