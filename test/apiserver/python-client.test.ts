// The official Python client (Debian's python3-kubernetes) against
// `npm run kube-apiserver --tidepool-crds`: python-client.py lists with
// selectors, watches namespaces and IPPools (it sends watch=True), creates,
// patches and deletes custom objects, patches a pod strategically and
// records an Event. Skipped when no python3 can import kubernetes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = new URL('./main.ts', import.meta.url).pathname;
const SCRIPT = new URL('./python-client.py', import.meta.url).pathname;

/** A python3 that has the kubernetes package: the one on PATH, else Debian's. */
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0);

test('the Python client lists, watches, patches and deletes through the test API server', { skip: python ? false : 'python3-kubernetes is not installed', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidepool-python-client-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  const server = spawn(process.execPath, ['--import', 'tsx', MAIN, '--kubeconfig', kubeconfig, '--tidepool-crds'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  server.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await new Promise<string>((resolve, reject) => {
      createInterface(server.stdout!).once('line', resolve);
      server.once('exit', (c) => reject(new Error(`kube-apiserver exited ${c}: ${stderr}`)));
    });
    const out = await new Promise<string>((resolve, reject) =>
      execFile(python!, [SCRIPT, kubeconfig], { env: { ...env, TMPDIR: dir }, timeout: 90_000 }, (err, stdout, pyErr) => (err ? reject(new Error(`${err.message}\n${pyErr}`)) : resolve(stdout))),
    );
    const { pool_watch: poolWatch, ...seen } = JSON.parse(out) as Record<string, unknown>;
    assert.match((poolWatch as string[]).join(', '), /^ADDED py-pool, (MODIFIED py-pool, )?DELETED py-pool$/);
    assert.deepEqual(seen, {
      selected: ['default', 'kube-system'],
      namespace_watch: ['ADDED default', 'ADDED kube-node-lease', 'ADDED kube-public', 'ADDED kube-system', 'ADDED py'],
      pools_selected: ['py-pool'],
      pools_other: [],
      patched_spec: { subnet: '10.9.0.0/24', gateway: '10.9.0.1' },
      pool_managers: [['OpenAPI-Generator', 'Update']],
      pod_images: ['app:2', 'side:1'],
      events: ['Tested'],
    });
  } finally {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
