// Boolean query parameters are read as the real server's parameter codec
// reads them, so clients that spell booleans their own way (the Python
// client sends `watch=True`) get the same answers as from a real cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryBool } from '../../src/apiserver/params.ts';
import { startHarness } from './test-helpers.ts';

test('a boolean parameter is false only as "0" or "false" in any case; absent is undefined', () => {
  const read = (v: string): boolean | undefined => queryBool(new URLSearchParams(v === '<absent>' ? '' : `p=${v}`), 'p');
  for (const v of ['1', 'true', 'True', 'TRUE', 't', 'T', 'f', 'yes', '']) assert.equal(read(v), true, v);
  for (const v of ['0', 'false', 'False', 'FALSE', 'fAlSe']) assert.equal(read(v), false, v);
  assert.equal(read('<absent>'), undefined);
  assert.equal(queryBool(new URLSearchParams('p=false&p=true'), 'p'), false, 'the first value counts');
});

/** The JSON documents of an answer: one list, or a watch's events once the server ends it after timeoutSeconds. */
async function documents(url: string): Promise<any[]> {
  const text = await (await fetch(url)).text();
  return text.trim().split('\n').map((l) => JSON.parse(l));
}

test('watch=True (the Python client) starts a watch; watch=False and watch=0 list', async () => {
  const h = await startHarness({ tidepoolKinds: false });
  try {
    for (const v of ['True', 'true', '1', 'yes']) {
      const events = await documents(`${h.server.url}/api/v1/namespaces?watch=${v}&timeoutSeconds=1`);
      assert.deepEqual(events.map((e) => `${e.type} ${e.object?.metadata?.name}`), ['ADDED default', 'ADDED kube-node-lease', 'ADDED kube-public', 'ADDED kube-system'], `watch=${v} is a watch`);
    }
    for (const v of ['False', 'false', '0']) {
      const [list] = await documents(`${h.server.url}/api/v1/namespaces?watch=${v}`);
      assert.equal(list.kind, 'NamespaceList', `watch=${v} is a list`);
    }
  } finally {
    await h.close();
  }
});

test('allowWatchBookmarks=True gets bookmarks', async () => {
  const h = await startHarness({ tidepoolKinds: false });
  try {
    const rv = h.server.resourceVersion();
    const answer = fetch(`${h.server.url}/api/v1/namespaces?watch=True&allowWatchBookmarks=True&resourceVersion=${rv}&timeoutSeconds=1`).then((r) => r.text());
    for (let i = 0; h.server.watchCount() === 0; i++) {
      assert.ok(i < 400, 'the watch never opened');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(h.server.sendBookmarks(), 1);
    const events = (await answer).trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    assert.deepEqual(events.map((e) => e.type), ['BOOKMARK']);
  } finally {
    await h.close();
  }
});

test('sendInitialEvents and orphanDependents are read by the same codec: True is true, not a 400', async () => {
  const h = await startHarness({ tidepoolKinds: false });
  const status = async (path: string, init?: RequestInit) => (await (await fetch(`${h.server.url}${path}`, init)).json()) as { code: number; message: string };
  try {
    const list = await status('/api/v1/namespaces?sendInitialEvents=True');
    assert.equal(list.code, 422);
    assert.match(list.message, /sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list/);
    const emptyIsTrue = await status('/api/v1/namespaces?watch=1&sendInitialEvents=');
    assert.match(emptyIsTrue.message, /sendInitialEvents requires setting resourceVersionMatch to NotOlderThan/);
    const del = await status('/api/v1/namespaces/default?orphanDependents=True&propagationPolicy=Orphan', { method: 'DELETE' });
    assert.equal(del.code, 422);
    assert.match(del.message, /orphanDependents and deletionPropagation cannot be both set/);
  } finally {
    await h.close();
  }
});
