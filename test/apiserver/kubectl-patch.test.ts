// kubectl's default patch (strategic merge), label, annotate and client-side
// apply (`kubectl apply -f`, which computes a patch from the
// last-applied-configuration annotation: strategic merge for built-in kinds,
// JSON merge for custom resources) work against the test API server.
// Validation needs the OpenAPI documents this server does not serve yet, so
// creates and applies pass --validate=false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFakeApiServer, type FakeApiServer } from './server.ts';
import { kubectlPath, withKubectl } from './kubectl.ts';

const skip = kubectlPath ? false : 'kubectl is not installed';

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: app
    image: app:1
    env: [{name: A, value: "1"}]
  - name: sidecar
    image: side:1
`;

test('kubectl patch (strategic merge by default), label and annotate a pod', { skip }, async () => {
  await withKubectl(async (k, server) => {
    await k.ok(['create', '--validate=false', '-f', '-'], POD);
    await k.ok(['patch', 'pod', 'web', '-p', '{"spec":{"containers":[{"name":"app","image":"app:2"}]}}']);
    await k.ok(['label', 'pod', 'web', 'tier=db']);
    await k.ok(['annotate', 'pod', 'web', 'note=x']);
    await k.ok(['label', 'pod', 'web', 'app-']);
    const [p] = server.objects('pods');
    assert.deepEqual(p!.metadata.labels, { tier: 'db' });
    assert.deepEqual(p!.metadata.annotations, { note: 'x' });
    const containers = (p!['spec'] as { containers: { name: string; image: string; env?: unknown[] }[] }).containers;
    assert.deepEqual(containers.map((c) => [c.name, c.image, c.env?.length ?? 0]), [
      ['app', 'app:2', 1],
      ['sidecar', 'side:1', 0],
    ]);
  });
});

test('kubectl apply -f twice: create, then the computed patch (a pod, a namespace, an IPPool)', { skip }, async () => {
  await withKubectl(async (k, server) => {
    const ns = (labels: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  labels: {${labels}}\n`;
    const pool = (ips: string) => `apiVersion: tidepool.dev/v1alpha1\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  subnet: 10.1.0.0/24\n  ips: [${ips}]\n  gateway: 10.1.0.1\n`;
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], POD), /pod\/web created/);
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], ns('a: "1", b: "2"')), /namespace\/team created/);
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], pool('10.1.0.10')), /ippool.tidepool.dev\/p created/);
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], POD.replace('app:1', 'app:3')), /pod\/web configured/);
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], ns('a: "1", c: "3"')), /namespace\/team configured/);
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], pool('10.1.0.10, 10.1.0.11').replace('  gateway: 10.1.0.1\n', '')), /ippool.tidepool.dev\/p configured/);
    const [p] = server.objects('pods');
    assert.deepEqual((p!['spec'] as { containers: { image: string }[] }).containers.map((c) => c.image), ['app:3', 'side:1']);
    assert.match(p!.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration']!, /app:3/);
    const team = server.objects('namespaces').find((n) => n.metadata.name === 'team')!;
    assert.deepEqual(team.metadata.labels, { a: '1', c: '3', 'kubernetes.io/metadata.name': 'team' }, 'the label dropped from the file is removed');
    const [ippool] = server.objects('ippools');
    assert.deepEqual(ippool!['spec'], { subnet: '10.1.0.0/24', ips: ['10.1.0.10', '10.1.0.11'] }, 'the field dropped from the file is removed');
    assert.match(await k.ok(['apply', '--validate=false', '-f', '-'], ns('a: "1", c: "3"')), /namespace\/team unchanged/);
  });
});
