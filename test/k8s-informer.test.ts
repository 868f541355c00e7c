// The informer against the fake API server: how it resumes a watch after
// the answers a real cluster gives, and when it must (and must not) relist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createInformer, type Informer } from '../src/k8s/informer.ts';
import { createKubeRest, type KubeObject, type KubeRest } from '../src/k8s/rest.ts';
import { createFakeApiServer, type FakeApiServer, type FaultSpec } from './apiserver/server.ts';

const PATH = '/apis/tidepool.dev/v1alpha1/reservedips';
const reserved = (name: string) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name }, spec: { ips: ['10.0.0.1'] } });

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Setup {
  server: FakeApiServer;
  rest: KubeRest;
  informer: Informer<KubeObject>;
  /** Every pause the informer asked for, in ms; none really waits. */
  waits: number[];
  changes: string[];
  close(): Promise<void>;
}

async function setup(): Promise<Setup> {
  const server = await createFakeApiServer();
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  const rest = await createKubeRest(kc);
  const waits: number[] = [];
  const changes: string[] = [];
  const informer = createInformer<KubeObject>({ rest, path: PATH, delay: async (ms) => void waits.push(ms) });
  informer.onChange((type, obj) => changes.push(`${type} ${obj.metadata.name}`));
  await rest.create(PATH, reserved('before'));
  informer.start();
  await informer.waitForSync();
  return {
    server,
    rest,
    informer,
    waits,
    changes,
    async close() {
      await informer.stop();
      rest.close();
      await server.close();
    },
  };
}

const count = (s: FakeApiServer, verb: 'list' | 'watch') => s.stats().requests[verb]?.['reservedips'] ?? 0;

// A watch the server refuses to start at our resourceVersion has lost nothing: the cache is as good as it was.
const resumable: Array<[string, FaultSpec, number]> = [
  ['a lagging replica answers "too large resource version"', { tooLargeResourceVersion: true }, 1_000],
  ['the server answers 429 TooManyRequests', { status: 429 }, 0],
];

for (const [what, fault, atLeastMs] of resumable) {
  test(`${what}: the informer waits and watches again from the same resourceVersion, without relisting`, async () => {
    const s = await setup();
    try {
      const lists = count(s.server, 'list');
      const watches = count(s.server, 'watch');
      const refused = s.server.injectFault({ verb: 'watch', resource: 'reservedips', times: 3, ...fault });
      await s.rest.create(PATH, reserved('meanwhile'));
      // The open watch may deliver it first; end it so the informer has to start a new one.
      await until("the informer's watch is open", () => s.server.watchCount() === 1);
      s.server.dropWatches();
      await until('three refused watches', () => refused.hits === 3);
      await s.rest.create(PATH, reserved('after'));
      await until('the informer is back', () => s.informer.get('after') !== undefined);
      assert.equal(count(s.server, 'list'), lists, 'no relist');
      assert.ok(count(s.server, 'watch') >= watches + 4, 'three refused watches and one that worked');
      assert.ok(s.informer.get('meanwhile'), 'nothing in between was lost');
      assert.deepEqual(s.changes.filter((c) => c.startsWith('DELETED')), [], 'and nothing was taken for deleted');
      assert.ok(s.waits.length >= 3, `it paused before each retry: ${JSON.stringify(s.waits)}`);
      for (const ms of s.waits.slice(-3)) assert.ok(ms >= atLeastMs, `paused ${ms} ms, the server asked for ${atLeastMs} ms or more`);
    } finally {
      await s.close();
    }
  });
}

test('a resourceVersion that never comes back (etcd restored from a backup): after 10 refused watches the informer lists afresh', async () => {
  const s = await setup();
  try {
    const lists = count(s.server, 'list');
    const refused = s.server.injectFault({ verb: 'watch', resource: 'reservedips', times: 12, tooLargeResourceVersion: true });
    await until("the informer's watch is open", () => s.server.watchCount() === 1);
    s.server.dropWatches();
    await until('twelve refused watches', () => refused.hits === 12);
    await s.rest.create(PATH, reserved('after'));
    await until('the informer is back', () => s.informer.get('after') !== undefined);
    assert.equal(count(s.server, 'list'), lists + 1, 'one consistent list after the tenth refusal, none after the next two');
  } finally {
    await s.close();
  }
});

test('a watch that ends with 410 Expired relists at once: events were lost', async () => {
  const s = await setup();
  try {
    const lists = count(s.server, 'list');
    s.server.injectFault({ verb: 'watch', resource: 'reservedips', times: 1, status: 410 });
    s.server.dropWatches();
    await until('a relist', () => count(s.server, 'list') === lists + 1);
    await s.rest.create(PATH, reserved('after'));
    await until('the informer is back', () => s.informer.get('after') !== undefined);
  } finally {
    await s.close();
  }
});
