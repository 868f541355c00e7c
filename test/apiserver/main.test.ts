// `npm run kube-apiserver` as people and tools use it: a process that serves
// HTTPS, writes a kubeconfig trusting its own CA, answers client-node and
// kubectl, serves tidepool's kinds only when asked, and stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as k8s from '@kubernetes/client-node';
import { kubectlPath } from './kubectl.ts';

const MAIN = new URL('./main.ts', import.meta.url).pathname;

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The server's CA must come from the kubeconfig, not from the environment.
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}


async function withServer(args: string[], body: (kubeconfig: string, url: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-kube-apiserver-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN, '--kubeconfig', kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      createInterface(proc.stdout!).once('line', resolve);
      proc.once('exit', (c) => reject(new Error(`exited ${c}: ${stderr}`)));
    });
    assert.match(line, /^listening https:\/\/127\.0\.0\.1:\d+$/);
    await body(kubeconfig, line.slice('listening '.length));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

test('serves HTTPS with a kubeconfig that trusts its CA; only built-in kinds; exits 0 on SIGTERM', async () => {
  await withServer([], async (kubeconfig, url) => {
    const text = readFileSync(kubeconfig, 'utf8');
    assert.match(text, /certificate-authority-data: /);
    assert.doesNotMatch(text, /insecure-skip-tls-verify/);
    const kc = new k8s.KubeConfig();
    kc.loadFromString(text);
    assert.equal(kc.getCurrentCluster()?.server, url);
    const ns = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
    assert.deepEqual(ns.items.map((n) => n.metadata?.name), ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    assert.ok(!groups.groups.some((g) => g.name === 'tidepool.dev'), "tidepool's kinds are not served unless asked for");
  });
});

test('--tidepool-crds serves tidepool.dev from the start; kubectl works against it', async () => {
  await withServer(['--tidepool-crds'], async (kubeconfig) => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const pools = await kc.makeApiClient(k8s.CustomObjectsApi).listClusterCustomObject({ group: 'tidepool.dev', version: 'v1alpha1', plural: 'ippools' });
    assert.deepEqual((pools as { items: unknown[] }).items, []);
    if (!kubectlPath) return;
    const out = execFileSync(kubectlPath, ['--kubeconfig', kubeconfig, 'get', 'namespaces', '-o', 'name'], { encoding: 'utf8', env: childEnv() });
    assert.deepEqual(out.trim().split('\n'), ['namespace/default', 'namespace/kube-node-lease', 'namespace/kube-public', 'namespace/kube-system']);
    const resources = execFileSync(kubectlPath, ['--kubeconfig', kubeconfig, 'api-resources', '--api-group=tidepool.dev', '-o', 'name'], { encoding: 'utf8', env: childEnv() });
    assert.deepEqual(resources.trim().split('\n').sort(), ['ipallocations.tidepool.dev', 'ippools.tidepool.dev', 'reservedips.tidepool.dev']);
  });
});

test('refuses a missing --kubeconfig and unknown flags with exit 2 and the usage', () => {
  for (const args of [[], ['--kubeconfig', '/tmp/x', '--frobnicate']]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { encoding: 'utf8', env: childEnv(), timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /usage: npm run kube-apiserver -- --kubeconfig FILE/);
  }
});
