// The REST client keeps its credentials fresh, as client-go does, against the
// fake API server with expiring tokens: a token file re-read after a 401, an
// exec plugin run again, one refresh for many requests, watches and informers
// resumed, and a credential that cannot be refreshed left to fail.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInformer } from '../src/k8s/informer.ts';
import { loadKubeConfig } from '../src/k8s/kubeconfig.ts';
import { createKubeRest, KubeApiError, type KubeObject, type KubeRest } from '../src/k8s/rest.ts';
import { createFakeApiServer, type FakeApiServer } from './apiserver/server.ts';
import { runCli } from './helpers/agent-process.ts';

const PATH = '/apis/tidepool.dev/v1alpha1/reservedips';
const reserved = (name: string) => ({ apiVersion: 'tidepool.dev/v1alpha1', kind: 'ReservedIP', metadata: { name }, spec: { ips: ['10.0.0.1'] } });

let server: FakeApiServer;
let dir: string;
let n = 0;

before(async () => {
  server = await createFakeApiServer({ authentication: true });
  dir = mkdtempSync(join(tmpdir(), 'tidepool-credentials-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` to `path` at once, as kubelet swaps a projected token in. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function clientFor(user: Record<string, unknown>): Promise<KubeRest> {
  const kubeconfig = join(dir, `kubeconfig-${++n}`);
  server.writeKubeconfig(kubeconfig, user);
  return createKubeRest(await loadKubeConfig(kubeconfig));
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const unauthorized = () => server.stats().responses['401'] ?? 0;

describe('a token file (tokenFile in the kubeconfig, or the in-cluster service-account token)', () => {
  test('after the token in it is no longer accepted, the next request re-reads the file and is sent once more', async () => {
    const file = join(dir, 'token');
    const first = server.mintToken(600_000);
    replaceFile(file, `${first}\n`);
    const rest = await clientFor({ tokenFile: file });
    try {
      await rest.create(PATH, reserved('tf-1'));
      // kubelet rotates the file; the old token stops working.
      replaceFile(file, server.mintToken(600_000));
      server.revokeToken(first);
      const before = unauthorized();
      assert.equal((await rest.get<KubeObject>(`${PATH}/tf-1`)).metadata.name, 'tf-1');
      assert.equal(unauthorized(), before + 1, 'one 401, then the retry with the new token');
    } finally {
      rest.close();
    }
  });

  test('many requests that meet the same 401 read the file once', async () => {
    const file = join(dir, 'token-burst');
    const first = server.mintToken(600_000);
    replaceFile(file, first);
    const rest = await clientFor({ tokenFile: file });
    try {
      replaceFile(file, server.mintToken(600_000));
      server.revokeToken(first);
      const before = unauthorized();
      const got = await Promise.all(Array.from({ length: 20 }, () => rest.list(PATH)));
      assert.equal(got.length, 20);
      assert.ok(unauthorized() - before <= 20, 'no request was refused twice');
    } finally {
      rest.close();
    }
  });

  test('a watch refused with 401 is started again with the new token, and so is an informer\'s, without relisting', async () => {
    const file = join(dir, 'token-watch');
    const first = server.mintToken(600_000);
    replaceFile(file, first);
    const rest = await clientFor({ tokenFile: file });
    const informer = createInformer<KubeObject>({ rest, path: PATH });
    try {
      informer.start();
      await informer.waitForSync();
      const lists = server.stats().requests.list?.['reservedips'] ?? 0;
      replaceFile(file, server.mintToken(600_000));
      server.revokeToken(first);
      const before = unauthorized();
      // The open watch outlives its token, as on a real server; a new one must authenticate.
      server.dropWatches();
      await until('a watch was refused', () => unauthorized() > before);
      const admin = await createKubeRest(await loadKubeConfig(writeAdminKubeconfig()));
      await admin.create(PATH, reserved('tf-watched'));
      admin.close();
      await until('the informer sees the new object', () => informer.get('tf-watched') !== undefined);
      assert.equal(server.stats().requests.list?.['reservedips'] ?? 0, lists, 'no relist');
    } finally {
      await informer.stop();
      rest.close();
    }
  });
});

function writeAdminKubeconfig(): string {
  const path = join(dir, `admin-${++n}`);
  server.writeKubeconfig(path);
  return path;
}

describe('an exec plugin', () => {
  /** A plugin printing the ExecCredential the test put in `cred`, and counting its runs in `runs`. */
  function plugin(name: string): { user: Record<string, unknown>; set(token: string, expiresAt?: Date): void; runs(): number; execInfo(): unknown } {
    const cred = join(dir, `${name}.json`);
    const runs = join(dir, `${name}.runs`);
    const script = join(dir, `${name}.sh`);
    writeFileSync(runs, '');
    writeFileSync(script, '#!/bin/sh\necho "$KUBERNETES_EXEC_INFO" >> "$RUNS"\ncat "$CRED"\n');
    chmodSync(script, 0o755);
    return {
      user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script, env: [{ name: 'CRED', value: cred }, { name: 'RUNS', value: runs }], interactiveMode: 'Never' } },
      set(token, expiresAt) {
        replaceFile(cred, JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token, ...(expiresAt ? { expirationTimestamp: expiresAt.toISOString() } : {}) } }));
      },
      runs: () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length,
      execInfo: () => JSON.parse(readFileSync(runs, 'utf8').split('\n')[0]!) as unknown,
    };
  }

  test('without an expiry, its credential is kept until a 401; then it runs again once, and the request is retried', async () => {
    const p = plugin('no-expiry');
    const first = server.mintToken(600_000);
    p.set(first);
    const rest = await clientFor(p.user);
    try {
      await rest.create(PATH, reserved('ex-1'));
      await rest.get(`${PATH}/ex-1`);
      assert.equal(p.runs(), 1, 'one run for both requests');
      assert.deepEqual(p.execInfo(), { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } }, 'KUBERNETES_EXEC_INFO as client-go sets it');
      p.set(server.mintToken(600_000));
      server.revokeToken(first);
      const got = await Promise.all(Array.from({ length: 10 }, () => rest.get<KubeObject>(`${PATH}/ex-1`)));
      assert.equal(got.length, 10);
      assert.equal(p.runs(), 2, 'ten requests met the 401; the plugin ran once more');
    } finally {
      rest.close();
    }
  });

  test('with an expiry, it runs again in the last fifth of the credential\'s life, while requests go on with the old one', async () => {
    const p = plugin('expiring');
    // The client's clock is moved instead of waiting; the server accepts both tokens throughout.
    let skew = 0;
    const now = () => Date.now() + skew;
    p.set(server.mintToken(600_000), new Date(now() + 10_000));
    const kubeconfig = join(dir, 'kubeconfig-expiring');
    server.writeKubeconfig(kubeconfig, p.user);
    const rest = await createKubeRest(await loadKubeConfig(kubeconfig), { now });
    try {
      const before = unauthorized();
      await rest.list(PATH);
      skew = 7_000;
      await rest.list(PATH);
      assert.equal(p.runs(), 1, '3 s of 10 left: not due yet');
      p.set(server.mintToken(600_000), new Date(now() + 600_000));
      skew = 8_500;
      await rest.list(PATH);
      await until('the plugin ran again', () => p.runs() === 2);
      await rest.list(PATH);
      assert.equal(p.runs(), 2);
      assert.equal(unauthorized(), before, 'not one 401');
    } finally {
      rest.close();
    }
  });

  test('a plugin that fails names itself and its output in the error', async () => {
    const kubeconfig = join(dir, 'kubeconfig-broken-plugin');
    server.writeKubeconfig(kubeconfig, { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', args: ['-c', 'echo "token expired, run login" >&2; exit 3'] } });
    await assert.rejects(
      async () => createKubeRest(await loadKubeConfig(kubeconfig)),
      /exec plugin sh exited with 3: token expired, run login/,
    );
  });
});

test('a static token that is refused is not retried: there is nothing to refresh', async () => {
  const token = server.mintToken(600_000);
  const rest = await clientFor({ token });
  try {
    server.revokeToken(token);
    const before = unauthorized();
    await assert.rejects(rest.list(PATH), (err: unknown) => err instanceof KubeApiError && err.status === 401);
    assert.equal(unauthorized(), before + 1);
  } finally {
    rest.close();
  }
});

test('an agent or controller whose credentials cannot be had stops at start-up with a configuration error naming them', async () => {
  const kubeconfig = join(dir, 'kubeconfig-missing-token');
  server.writeKubeconfig(kubeconfig, { tokenFile: join(dir, 'no-such-token') });
  const sock = join(dir, 'never.sock');
  for (const args of [
    ['daemon', '--store', 'kubernetes', '--kubeconfig', kubeconfig, '--node', 'n1', '--socket', sock, '--metrics-listen', 'off'],
    ['controller', '--namespace', 'kube-system', '--kubeconfig', kubeconfig, '--webhook-listen', 'off', '--metrics-listen', 'off'],
  ]) {
    const r = await runCli(args);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /--kubeconfig:? .*kubeconfig-missing-token: ENOENT: no such file or directory, open '.*no-such-token' \(INVALID_CONFIG\)/);
  }
});
