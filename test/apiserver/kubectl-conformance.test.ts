// The real kubectl as a judge of the test API server, for what the other
// kubectl suites do not cover: describe with Events, watches, every patch
// type on a custom resource, graceful and forced deletes, namespace deletion
// and kubectl wait. (CRDs, columns, categories and explain:
// crd-kubectl.test.ts; strategic merge patch and client-side apply:
// kubectl-patch.test.ts; server-side apply: kubectl-server-side-apply.test.ts.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import { createEventPoster } from '../../src/k8s/events.ts';
import { createKubeRest, type KubeRest } from '../../src/k8s/rest.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { kubectlFor, kubectlPath, type Kubectl } from './kubectl.ts';
import { createFakeApiServer, type FakeApiServer } from './server.ts';

const skip = kubectlPath ? false : 'kubectl is not installed';

const POOL = `apiVersion: tidepool.dev/v1alpha1
kind: IPPool
metadata:
  name: lan
spec:
  subnet: 10.6.0.0/24
  ips: [10.6.0.10-10.6.0.20]
`;

const pod = (name: string, extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
${extra}spec:
  nodeName: node-1
  containers:
  - name: app
    image: app:1
`;

describe('kubectl against the test API server', { skip }, () => {
  let server: FakeApiServer;
  let k: Kubectl;
  let rest: KubeRest;

  before(async () => {
    server = await createFakeApiServer({ tls: true });
    k = kubectlFor(server);
    const kc = new KubeConfig();
    kc.loadFromString(server.kubeconfig());
    rest = await createKubeRest(kc);
    await k.ok(['apply', '-f', '-'], POOL);
  });

  after(async () => {
    rest?.close();
    k?.close();
    await server?.close();
  });

  test('kubectl describe ippool shows the Events tidepool posts about it', async () => {
    // Posted as tidepool's controller posts them: in default, naming the cluster-scoped pool by kind, name and UID.
    const post = createEventPoster({ rest, component: 'tidepool-controller', host: 'ctrl-0', now: Date.now, log: silentLogger });
    const uid = await k.ok(['get', 'ippool', 'lan', '-o', 'jsonpath={.metadata.uid}']);
    post({ kind: 'IPPool', name: 'lan', uid }, 'IPReclaimed', 'reclaimed 10.6.0.12 of pod default/gone: the pod was deleted');
    let out = '';
    for (let i = 0; i < 100 && !out.includes('IPReclaimed'); i++) {
      out = await k.ok(['describe', 'ippool', 'lan']);
      if (!out.includes('IPReclaimed')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(out, /^Name:\s+lan$/m);
    assert.match(out, /Events:[\s\S]*Warning|Events:[\s\S]*Normal/);
    assert.match(out, /IPReclaimed\s+.*reclaimed 10\.6\.0\.12 of pod default\/gone/);
  });

  test('kubectl get -w --output-watch-events sees a pool added, changed and deleted', async () => {
    const child = spawn(kubectlPath!, ['get', 'ippools', '-w', '--output-watch-events', '--kubeconfig', k.kubeconfig], { env: k.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const until = async (re: RegExp) => {
      for (let i = 0; i < 600 && !re.test(seen); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(seen, re, `kubectl get -w printed:\n${seen}\nstderr:\n${stderr}`);
    };
    try {
      await until(/ADDED\s+lan\b/);
      await k.ok(['apply', '-f', '-'], POOL.replace('name: lan', 'name: watched'));
      await until(/ADDED\s+watched\b/);
      await k.ok(['label', 'ippool', 'watched', 'tier=gold']);
      await until(/MODIFIED\s+watched\b/);
      await k.ok(['delete', 'ippool', 'watched']);
      await until(/DELETED\s+watched\b/);
    } finally {
      child.kill();
    }
  });

  test('kubectl patch: JSON merge and JSON patch on a custom resource; strategic merge refused as the real server refuses it', async () => {
    await k.ok(['patch', 'ippool', 'lan', '--type=merge', '-p', '{"spec":{"gateway":"10.6.0.1"}}']);
    await k.ok(['patch', 'ippool', 'lan', '--type=json', '-p', '[{"op":"add","path":"/spec/excludeIPs","value":["10.6.0.15"]}]']);
    const spec = JSON.parse(await k.ok(['get', 'ippool', 'lan', '-o', 'jsonpath={.spec}'])) as Record<string, unknown>;
    assert.equal(spec['gateway'], '10.6.0.1');
    assert.deepEqual(spec['excludeIPs'], ['10.6.0.15']);
    const refused = await k.run(['patch', 'ippool', 'lan', '--type=strategic', '-p', '{"spec":{"gateway":"10.6.0.2"}}']);
    assert.notEqual(refused.code, 0);
    // The real server's 415, as kubectl prints it.
    assert.match(refused.stderr, /application\/strategic-merge-patch\+json is not supported by tidepool\.dev\/v1alpha1, Kind=IPPool: the body of the request was in an unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json, application\/apply-patch\+yaml/);
    assert.equal(await k.ok(['get', 'ippool', 'lan', '-o', 'jsonpath={.spec.gateway}']), '10.6.0.1');
  });

  test('a graceful delete leaves the pod Terminating until the forced delete removes it; kubectl wait --for=delete returns then', async () => {
    await k.ok(['apply', '-f', '-'], pod('web'));
    const deleted = await k.ok(['delete', 'pod', 'web', '--wait=false']);
    assert.match(deleted, /pod "web" deleted/);
    const ts = await k.ok(['get', 'pod', 'web', '-o', 'jsonpath={.metadata.deletionTimestamp} {.metadata.deletionGracePeriodSeconds}']);
    assert.match(ts, /^\d{4}-\d\d-\d\dT\S+Z 30$/, 'Terminating with the pod\'s 30 s grace');
    const waiting = k.run(['wait', '--for=delete', 'pod/web', '--timeout=60s']);
    const forced = await k.run(['delete', 'pod', 'web', '--grace-period=0', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /Immediate deletion does not wait for confirmation/);
    assert.match(forced.stdout, /pod "web" force deleted/);
    const waited = await waiting;
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal((await k.run(['get', 'pod', 'web'])).code, 1);
  });

  test('kubectl delete namespace returns once the namespace controller has emptied and removed it', async () => {
    await k.ok(['create', 'namespace', 'team']);
    // Not bound to a node, so nothing waits for a kubelet: deleted at once, as the real server does.
    await k.ok(['apply', '-n', 'team', '-f', '-'], pod('job-1').replace('  nodeName: node-1\n', ''));
    const r = await k.run(['delete', 'namespace', 'team', '--timeout=60s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /namespace "team" deleted/);
    assert.equal((await k.run(['get', 'namespace', 'team'])).code, 1);
    assert.deepEqual(server.objects('pods').filter((p) => p.metadata.namespace === 'team'), []);
  });

  test('kubectl wait --for=condition=Established on the CRDs the server installed', async () => {
    const out = await k.ok(['wait', '--for=condition=Established', 'crd/ippools.tidepool.dev', 'crd/ipallocations.tidepool.dev', 'crd/reservedips.tidepool.dev', '--timeout=30s']);
    assert.equal(out.trim().split('\n').length, 3, out);
    assert.match(out, /customresourcedefinition\.apiextensions\.k8s\.io\/ippools\.tidepool\.dev condition met/);
  });
});
