// The ownerReference garbage collector running in the server: background,
// foreground and orphan deletion, Jobs' orphaning default, owners that never
// existed, owners of kinds that are not served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcess, type InProcess } from './in-process.ts';

const NS = '/api/v1/namespaces/default';
const RS = '/apis/apps/v1/namespaces/default/replicasets';
const DEPLOY = '/apis/apps/v1/namespaces/default/deployments';
const JOBS = '/apis/batch/v1/namespaces/default/jobs';

const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] } };

async function make(s: InProcess, path: string, body: unknown): Promise<any> {
  const r = await s.call('POST', path, { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

function ref(owner: any, kind: string, apiVersion: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion, kind, name: owner.metadata.name, uid: owner.metadata.uid, ...extra };
}

async function pod(s: InProcess, name: string, owners: unknown[], node?: string): Promise<any> {
  return make(s, `${NS}/pods`, { metadata: { name, ownerReferences: owners }, spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'c', image: 'registry.example/app:1' }] } });
}

const exists = async (s: InProcess, path: string): Promise<boolean> => (await s.call('GET', path)).status === 200;

test('background: deleting a Deployment deletes its ReplicaSet, then its pods (bound pods gracefully)', async () => {
  const s = startInProcess();
  try {
    const deploy = await make(s, DEPLOY, { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template } });
    const rs = await make(s, RS, { metadata: { name: 'web-1', ownerReferences: [ref(deploy, 'Deployment', 'apps/v1', { controller: true, blockOwnerDeletion: true })] }, spec: { selector: { matchLabels: { app: 'web' } }, template } });
    await pod(s, 'a', [ref(rs, 'ReplicaSet', 'apps/v1', { controller: true })]);
    await pod(s, 'b', [ref(rs, 'ReplicaSet', 'apps/v1', { controller: true })], 'n1');
    await s.timers.advance(1_000);
    assert.ok(await exists(s, `${NS}/pods/a`), 'owned pods stay while their owner lives');
    assert.equal((await s.call('DELETE', `${DEPLOY}/web`)).status, 200);
    await s.timers.advance(1_000);
    assert.equal(await exists(s, `${RS}/web-1`), false);
    assert.equal(await exists(s, `${NS}/pods/a`), false);
    const b = await s.call('GET', `${NS}/pods/b`);
    assert.ok(b.body.metadata.deletionTimestamp, 'a bound pod is deleted gracefully, waiting for its kubelet');
  } finally {
    s.stop();
  }
});

test('a dependent with another owner alive loses only the reference to the one that went', async () => {
  const s = startInProcess();
  try {
    const one = await make(s, RS, { metadata: { name: 'one' }, spec: { selector: { matchLabels: { app: 'web' } }, template } });
    const two = await make(s, RS, { metadata: { name: 'two' }, spec: { selector: { matchLabels: { app: 'web' } }, template } });
    await pod(s, 'shared', [ref(one, 'ReplicaSet', 'apps/v1'), ref(two, 'ReplicaSet', 'apps/v1')]);
    await s.call('DELETE', `${RS}/one`);
    await s.timers.advance(1_000);
    const shared = await s.call('GET', `${NS}/pods/shared`);
    assert.equal(shared.status, 200);
    assert.deepEqual(shared.body.metadata.ownerReferences.map((r: any) => r.name), ['two']);
  } finally {
    s.stop();
  }
});

test('foreground: the owner stays with foregroundDeletion until dependents with blockOwnerDeletion are gone', async () => {
  const s = startInProcess();
  try {
    const rs = await make(s, RS, { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template } });
    await pod(s, 'blocking', [ref(rs, 'ReplicaSet', 'apps/v1', { blockOwnerDeletion: true })], 'n1');
    const marked = await s.call('DELETE', `${RS}/web`, { body: { propagationPolicy: 'Foreground' } });
    assert.equal(marked.status, 200);
    assert.deepEqual(marked.body.metadata.finalizers, ['foregroundDeletion']);
    await s.timers.advance(1_000);
    const pod0 = await s.call('GET', `${NS}/pods/blocking`);
    assert.ok(pod0.body.metadata.deletionTimestamp, 'the dependent is being deleted');
    assert.ok(await exists(s, `${RS}/web`), 'the owner waits for its blocking dependent');
    await s.call('DELETE', `${NS}/pods/blocking`, { body: { gracePeriodSeconds: 0 } });
    await s.timers.advance(1_000);
    assert.equal(await exists(s, `${RS}/web`), false, 'then the finalizer is removed and the owner goes');
  } finally {
    s.stop();
  }
});

test('orphan: the dependents lose their reference, keep living, and the owner goes', async () => {
  const s = startInProcess();
  try {
    const rs = await make(s, RS, { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template } });
    await pod(s, 'kept', [ref(rs, 'ReplicaSet', 'apps/v1', { controller: true })]);
    const marked = await s.call('DELETE', `${RS}/web`, { body: { propagationPolicy: 'Orphan' } });
    assert.deepEqual(marked.body.metadata.finalizers, ['orphan']);
    await s.timers.advance(1_000);
    assert.equal(await exists(s, `${RS}/web`), false);
    const kept = await s.call('GET', `${NS}/pods/kept`);
    assert.equal(kept.status, 200);
    assert.equal(kept.body.metadata.ownerReferences, undefined);
  } finally {
    s.stop();
  }
});

test('a batch/v1 Job deleted without a policy orphans its pods; with Background it takes them', async () => {
  const s = startInProcess();
  try {
    const jobTemplate = { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'registry.example/job:1' }] } };
    const quiet = await make(s, JOBS, { metadata: { name: 'quiet' }, spec: { template: jobTemplate } });
    assert.equal(quiet.spec.selector.matchLabels['batch.kubernetes.io/controller-uid'], quiet.metadata.uid, 'the generated selector');
    await pod(s, 'left', [ref(quiet, 'Job', 'batch/v1', { controller: true })]);
    assert.deepEqual((await s.call('DELETE', `${JOBS}/quiet`)).body.metadata.finalizers, ['orphan']);
    const loud = await make(s, JOBS, { metadata: { name: 'loud' }, spec: { template: jobTemplate } });
    await pod(s, 'taken', [ref(loud, 'Job', 'batch/v1', { controller: true })]);
    await s.call('DELETE', `${JOBS}/loud`, { body: { propagationPolicy: 'Background' } });
    await s.timers.advance(1_000);
    assert.ok(await exists(s, `${NS}/pods/left`));
    assert.equal(await exists(s, `${NS}/pods/taken`), false);
  } finally {
    s.stop();
  }
});

test('a pod naming an owner that does not exist is collected; one naming an unserved kind is kept', async () => {
  const s = startInProcess();
  try {
    await pod(s, 'dangling', [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'never', uid: 'd0d0d0d0-0000-4000-a000-000000000000' }]);
    await pod(s, 'unresolvable', [{ apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', uid: 'e0e0e0e0-0000-4000-a000-000000000000' }]);
    await s.timers.advance(1_000);
    assert.equal(await exists(s, `${NS}/pods/dangling`), false);
    assert.ok(await exists(s, `${NS}/pods/unresolvable`));
  } finally {
    s.stop();
  }
});

test('the collector can be switched off', async () => {
  const s = startInProcess({ controllers: { garbageCollector: false } });
  try {
    await pod(s, 'dangling', [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'never', uid: 'd0d0d0d0-0000-4000-a000-000000000000' }]);
    await s.timers.advance(1_000);
    assert.ok(await exists(s, `${NS}/pods/dangling`));
  } finally {
    s.stop();
  }
});

test('ownerReferences are validated: uid, kind and name required, one controller, no Event owners', async () => {
  const s = startInProcess();
  try {
    const bad = await s.call('POST', `${NS}/pods`, {
      body: {
        metadata: { name: 'x', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'a', uid: 'u1', controller: true }, { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'b', uid: '', controller: true }, { apiVersion: 'v1', kind: 'Event', name: 'e', uid: 'u3' }] },
        spec: { containers: [{ name: 'c', image: 'i' }] },
      },
    });
    assert.equal(bad.status, 422);
    assert.deepEqual(
      bad.body.details.causes.map((c: any) => `${c.field}: ${c.message}`),
      [
        'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
        'metadata.ownerReferences: Invalid value: Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/a and ReplicaSet/b',
        'metadata.ownerReferences: Invalid value: /v1, Kind=Event is disallowed from being an owner',
      ],
    );
  } finally {
    s.stop();
  }
});
