// What credential handling adds to each API request: tidepool's cached
// credentials (a clock read while fresh) against asking client-node's
// KubeConfig for them on every request, for an in-cluster service account
// (token file and CA file) and a static token.
// Run: node --import tsx bench/credentials.ts
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createCredentials } from '../src/k8s/credentials.ts';

const N = 200_000;
const dir = mkdtempSync(join(tmpdir(), 'tidepool-credentials-'));
const TOKEN = join(dir, 'token');
const CA = join(dir, 'ca.crt');
writeFileSync(TOKEN, 'x'.repeat(900)); // a projected service-account token is a JWT of about that size
writeFileSync(CA, '-----BEGIN CERTIFICATE-----\n' + 'A'.repeat(1200) + '\n-----END CERTIFICATE-----\n');

function kubeconfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://10.0.0.1:6443', caFile: CA, skipTLSVerify: false }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** Median ns per call over five rounds of N, after a warm-up. */
async function perCall(label: string, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20_000; i++) await fn();
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) await fn();
    rounds.push(Number(process.hrtime.bigint() - t0) / N);
  }
  rounds.sort((a, b) => a - b);
  console.log(`${label.padEnd(64)} ${rounds[2]!.toFixed(0).padStart(7)} ns/request`);
}

try {
  const inCluster = kubeconfig({ authProvider: { name: 'tokenFile', config: { tokenFile: TOKEN } } });
  const staticToken = kubeconfig({ token: 'x'.repeat(900) });
  await perCall('baseline: awaiting a settled promise', () => Promise.resolve());
  const fromFile = createCredentials({ kc: inCluster });
  await fromFile.current();
  await perCall('tidepool, service-account token file, cached', () => fromFile.current());
  const fixed = createCredentials({ kc: staticToken });
  await fixed.current();
  await perCall('tidepool, static token', () => fixed.current());
  await perCall('client-node applyToHTTPSOptions per request, token file', () => inCluster.applyToHTTPSOptions({ headers: {} }));
  await perCall('client-node applyToHTTPSOptions per request, static token', () => staticToken.applyToHTTPSOptions({ headers: {} }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
