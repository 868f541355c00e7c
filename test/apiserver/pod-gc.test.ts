// The pod garbage collector running in the server: pods bound to a node
// that is gone are marked Failed and force-deleted after the quarantine;
// pods on live nodes are left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcess } from './in-process.ts';

const PODS = '/api/v1/namespaces/default/pods';
const podBody = (name: string, node: string) => ({ metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.example/app:1' }] } });

test('pods bound to a deleted node are marked Failed (DisruptionTarget) and force-deleted after 20 s passes and a 40 s quarantine', async () => {
  const s = startInProcess();
  try {
    await s.call('POST', '/api/v1/nodes', { body: { metadata: { name: 'gone' } } });
    await s.call('POST', '/api/v1/nodes', { body: { metadata: { name: 'alive' } } });
    const orphan = await s.call('POST', PODS, { body: podBody('orphan', 'gone') });
    await s.call('POST', PODS, { body: podBody('kept', 'alive') });
    await s.call('DELETE', '/api/v1/nodes/gone');
    const w = await s.watch(PODS, { resourceVersion: orphan.body.metadata.resourceVersion, fieldSelector: 'metadata.name=orphan' });
    await s.timers.advance(39_000);
    assert.equal((await s.call('GET', `${PODS}/orphan`)).status, 200, 'still in quarantine');
    await s.timers.advance(30_000);
    assert.equal((await s.call('GET', `${PODS}/orphan`)).status, 404);
    assert.equal((await s.call('GET', `${PODS}/kept`)).status, 200);
    assert.deepEqual(w.events.map((e) => e.type), ['MODIFIED', 'MODIFIED', 'DELETED'], 'marked Failed, then force-deleted (grace 0: marked, removed)');
    const failed = w.events[0]!.object;
    assert.equal(failed.status.phase, 'Failed');
    assert.deepEqual(failed.status.conditions.map((c: any) => [c.type, c.reason, c.message]), [['DisruptionTarget', 'DeletionByPodGC', 'PodGC: node no longer exists']]);
  } finally {
    s.stop();
  }
});

test('the pod GC period and quarantine are configurable, and it can be switched off', async () => {
  const quick = startInProcess({ controllers: { podGc: { periodMs: 1_000, quarantineMs: 2_000 } } });
  const off = startInProcess({ controllers: { podGc: false } });
  try {
    for (const s of [quick, off]) await s.call('POST', PODS, { body: podBody('p', 'nowhere') });
    for (const s of [quick, off]) await s.timers.advance(5_000);
    assert.equal((await quick.call('GET', `${PODS}/p`)).status, 404);
    assert.equal((await off.call('GET', `${PODS}/p`)).status, 200);
  } finally {
    quick.stop();
    off.stop();
  }
});
