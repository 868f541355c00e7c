import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runStoreContract } from './contract.ts';
import { createMemoryStore } from './memory.ts';
import type { AllocationRecord } from './port.ts';

runStoreContract('memory store', async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});

test('memory store: neither the reserved object nor returned records alias its state', async () => {
  const store = createMemoryStore();
  const input = { pool: 'p', ip: '10.0.0.1', containerId: 'c', ifname: 'eth0', netns: '', node: 'n', allocatedAt: 1 };
  assert.equal(await store.reserve(input), true);
  input.containerId = 'mutated-input';
  const [listed] = await store.list();
  assert.ok(listed);
  (listed as { -readonly [K in keyof AllocationRecord]: AllocationRecord[K] }).containerId = 'mutated-output';
  const usage = await store.usage('p');
  (usage.allocated as string[]).push('10.0.0.2');
  assert.equal((await store.list())[0]?.containerId, 'c');
  assert.deepEqual((await store.usage('p')).allocated, ['10.0.0.1']);
  assert.equal(await store.release('p', '10.0.0.1', { containerId: 'c', ifname: 'eth0' }, 5), true);
  const released = (await store.usage('p')).released;
  (released as Array<[string, number]>)[0]![1] = 99;
  assert.deepEqual((await store.usage('p')).released, [['10.0.0.1', 5]]);
});

test('memory store: usage lists released IPs oldest release first', async () => {
  const store = createMemoryStore();
  for (const [ip, at] of [['10.0.0.1', 30], ['10.0.0.2', 10], ['10.0.0.3', 20]] as const) {
    assert.equal(await store.reserve({ pool: 'p', ip, containerId: 'c', ifname: 'eth0', netns: '', node: 'n', allocatedAt: 1 }), true);
    assert.equal(await store.release('p', ip, { containerId: 'c', ifname: 'eth0' }, at), true);
  }
  assert.deepEqual((await store.usage('p')).released, [['10.0.0.2', 10], ['10.0.0.3', 20], ['10.0.0.1', 30]]);
});
