// `kubectl apply --server-side` against the test API server: an IPPool
// created and changed, a conflict with another field manager reported as
// kubectl reports the real server's, --force-conflicts, and a pod moved from
// client-side to server-side apply without conflicts. Validation needs the
// OpenAPI documents this server does not serve yet, hence --validate=false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeApiServer, type FakeApiServer } from './server.ts';
import { kubectlPath, withKubectl } from './kubectl.ts';

const skip = kubectlPath ? false : 'kubectl is not installed';
const SSA = ['apply', '--server-side', '--validate=false', '-f', '-'];

const pool = (ips: string, extra = '') => `apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  subnet: 10.1.0.0/24\n  ips: [${ips}]\n${extra}`;

test('kubectl apply --server-side: an IPPool created, changed, a conflict with another manager, then forced', { skip }, async () => {
  await withKubectl(async (k, server) => {
    assert.match(await k.ok(SSA, pool('10.1.0.10', '  gateway: 10.1.0.1\n')), /ippool.tidepool.dev\/p serverside-applied/);
    assert.match(await k.ok(SSA, pool('10.1.0.10, 10.1.0.11')), /serverside-applied/);
    const [changed] = server.objects('ippools');
    assert.deepEqual(changed!['spec'], { subnet: '10.1.0.0/24', ips: ['10.1.0.10', '10.1.0.11'] }, 'the gateway kubectl no longer applies is removed');
    const entries = changed!.metadata['managedFields'] as { manager: string; operation: string }[];
    assert.deepEqual(entries.map((e) => `${e.manager} ${e.operation}`), ['kubectl Apply']);
    const conflict = await k.run([...SSA, '--field-manager=ops'], pool('10.1.0.12'));
    assert.equal(conflict.code, 1);
    assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.ips/);
    assert.match(await k.ok([...SSA, '--field-manager=ops', '--force-conflicts'], pool('10.1.0.12')), /serverside-applied/);
    const [forced] = server.objects('ippools');
    assert.deepEqual((forced!['spec'] as { ips: string[] }).ips, ['10.1.0.12']);
    assert.deepEqual((forced!.metadata['managedFields'] as { manager: string; fieldsV1: unknown }[]).map((e) => [e.manager, e.fieldsV1]), [
      ['kubectl', { 'f:spec': { 'f:subnet': {} } }],
      ['ops', { 'f:spec': { 'f:ips': {}, 'f:subnet': {} } }],
    ]);
  });
});

test('kubectl apply, then kubectl apply --server-side of a changed pod: no conflicts, the last-applied annotation kept up to date', { skip }, async () => {
  await withKubectl(async (k, server) => {
    const pod = (image: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: app\n    image: ${image}\n`;
    await k.ok(['apply', '--validate=false', '-f', '-'], pod('app:1'));
    assert.match(await k.ok(SSA, pod('app:2')), /pod\/web serverside-applied/);
    const [p] = server.objects('pods');
    assert.equal((p!['spec'] as { containers: { image: string }[] }).containers[0]!.image, 'app:2');
    assert.match(p!.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration']!, /"image":"app:2"/);
  });
});
