// Strategic merge patch as the real server applies it to built-in kinds:
// lists merged by the merge keys k8s.io/api declares, the directives, the
// order of merged lists, the errors; and over HTTP, for built-in kinds only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinKinds } from '../../src/apiserver/builtin-kinds.ts';
import { kindType } from '../../src/apiserver/patch/kind-types.ts';
import { applyStrategicMergePatch, StrategicPatchError } from '../../src/apiserver/patch/strategic.ts';
import { pod, startHarness } from './test-helpers.ts';

const kind = (plural: string) => builtinKinds().find((k) => k.plural === plural)!;
const POD = kindType(kind('pods'));
const smp = (original: object, patch: object) => applyStrategicMergePatch(original as Record<string, unknown>, patch as Record<string, unknown>, POD);

const webPod = {
  metadata: { name: 'web', labels: { app: 'web', tier: 'front' }, finalizers: ['a', 'b'], ownerReferences: [{ uid: 'u1', kind: 'StatefulSet', name: 's' }] },
  spec: {
    containers: [
      { name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80 }] },
      { name: 'sidecar', image: 'side:1' },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
    tolerations: [{ key: 'k1', operator: 'Exists' }],
  },
  status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'Initialized', status: 'True' }] },
};

test('lists with a merge key merge item by item; other items and fields stay', () => {
  const out = smp(webPod, { spec: { containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: '3' }] }] } }) as typeof webPod;
  assert.deepEqual(out.spec.containers, [
    { name: 'app', image: 'app:2', env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }], ports: [{ containerPort: 80 }] },
    { name: 'sidecar', image: 'side:1' },
  ]);
  const status = smp(webPod, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }) as typeof webPod;
  assert.deepEqual(status.status.conditions, [{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }]);
  const owners = smp(webPod, { metadata: { ownerReferences: [{ uid: 'u2', kind: 'Node', name: 'n' }] } }) as typeof webPod;
  assert.deepEqual(owners.metadata.ownerReferences.map((o) => o.uid), ['u2', 'u1'], 'new items come first without $setElementOrder, as on the real server');
});

test('lists without a patch strategy are replaced: tolerations, a container port list item is merged by containerPort', () => {
  const out = smp(webPod, { spec: { tolerations: [{ key: 'k2', operator: 'Exists' }], containers: [{ name: 'app', ports: [{ containerPort: 80, name: 'http' }] }] } }) as typeof webPod;
  assert.deepEqual(out.spec.tolerations, [{ key: 'k2', operator: 'Exists' }]);
  assert.deepEqual(out.spec.containers[0]!.ports, [{ containerPort: 80, name: 'http' }]);
});

test('maps merge; null deletes a key; $patch replace and delete', () => {
  const labels = smp(webPod, { metadata: { labels: { tier: null, team: 'x' } } }) as typeof webPod;
  assert.deepEqual(labels.metadata.labels, { app: 'web', team: 'x' });
  const replaced = smp(webPod, { metadata: { labels: { $patch: 'replace', only: 'this' } } }) as typeof webPod;
  assert.deepEqual(replaced.metadata.labels, { only: 'this' });
  const gone = smp(webPod, { metadata: { labels: { $patch: 'delete' } } }) as typeof webPod;
  assert.deepEqual(gone.metadata.labels, {});
  const noSidecar = smp(webPod, { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } }) as typeof webPod;
  assert.deepEqual(noSidecar.spec.containers.map((c) => c.name), ['app']);
  const onlyNew = smp(webPod, { spec: { containers: [{ $patch: 'replace' }, { name: 'new', image: 'n:1' }] } }) as typeof webPod;
  assert.deepEqual(onlyNew.spec.containers, [{ name: 'new', image: 'n:1' }]);
});

test('lists of scalars with the merge strategy: union, and $deleteFromPrimitiveList', () => {
  const added = smp(webPod, { metadata: { finalizers: ['c', 'a'] } }) as typeof webPod;
  assert.deepEqual(added.metadata.finalizers, ['c', 'a', 'b']);
  const removed = smp(webPod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } }) as typeof webPod;
  assert.deepEqual(removed.metadata.finalizers, ['b']);
});

test('$setElementOrder orders a merged list; $retainKeys clears the keys it does not list', () => {
  const ordered = smp(webPod, { spec: { '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'app' }], containers: [{ name: 'app', image: 'app:3' }] } }) as typeof webPod;
  assert.deepEqual(ordered.spec.containers.map((c) => `${c.name} ${c.image}`), ['sidecar side:1', 'app app:3']);
  const retained = smp(webPod, { spec: { volumes: [{ name: 'data', $retainKeys: ['name', 'hostPath'], hostPath: { path: '/d' } }] } }) as typeof webPod;
  assert.deepEqual(retained.spec.volumes, [{ name: 'data', hostPath: { path: '/d' } }]);
});

test('what cannot be applied fails with the real codes: 400 for a bad directive, 422 for lists of lists, 500 for a missing merge key', () => {
  const code = (patch: object, original: object = webPod): number => {
    try {
      smp(original, patch);
    } catch (e) {
      if (e instanceof StrategicPatchError) return e.code;
      throw e;
    }
    return 200;
  };
  assert.equal(code({ spec: { volumes: [{ name: 'data', $retainKeys: ['name'], hostPath: {} }] } }), 400);
  assert.equal(code({ metadata: { '$deleteFromPrimitiveList': ['a'] } }), 400);
  assert.equal(code({ metadata: { finalizers: [['x']] } }, { metadata: { finalizers: [] } }), 422);
  assert.equal(code({ metadata: { finalizers: [['x']] } }), 500, 'items of different kinds');
  assert.equal(code({ spec: { containers: [{ image: 'x' }] } }), 500);
  assert.equal(code({ spec: { containers: [{ name: 'app', $patch: 'frobnicate' }] } }), 500);
});

test('over HTTP: a pod patched strategically keeps its other containers; custom resources refuse strategic merge with 415', async () => {
  const h = await startHarness();
  try {
    const p = pod('web');
    p.spec!.containers.push({ name: 'sidecar', image: 'side:1', env: [{ name: 'A', value: '1' }] });
    await h.core.createNamespacedPod({ namespace: 'default', body: p });
    const res = await h.raw('PATCH', '/api/v1/namespaces/default/pods/web', { spec: { containers: [{ name: 'sidecar', image: 'side:2' }] } }, 'application/strategic-merge-patch+json');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.spec.containers.map((c: { name: string; image: string; env?: unknown[] }) => [c.name, c.image, c.env?.length ?? 0]), [
      ['c', 'registry.example/app:1', 0],
      ['sidecar', 'side:2', 1],
    ]);
    const bad = await h.raw('PATCH', '/api/v1/namespaces/default/pods/web', { spec: { containers: [{ image: 'x' }] } }, 'application/strategic-merge-patch+json');
    assert.deepEqual([bad.status, bad.body.reason, bad.body.message], [500, undefined, 'map: map[image:x] does not contain declared merge key: name']);
    await h.custom.createClusterCustomObject({ group: 'tidepool.dev', version: 'v1alpha1', plural: 'ippools', body: { apiVersion: 'tidepool.dev/v1alpha1', kind: 'IPPool', metadata: { name: 'p' }, spec: { subnet: '10.0.0.0/24' } } });
    const cr = await h.raw('PATCH', '/apis/tidepool.dev/v1alpha1/ippools/p', { spec: { gateway: '10.0.0.1' } }, 'application/strategic-merge-patch+json');
    assert.equal(cr.status, 415);
    assert.equal(cr.body.message, 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml');
  } finally {
    await h.close();
  }
});
