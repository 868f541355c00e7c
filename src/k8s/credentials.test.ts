import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { createCredentials, jwtExpiry, TOKEN_FILE_REFRESH_MS, type Auth } from './credentials.ts';
import type { ExecCredential } from './exec-credential.ts';
import { parseExecCredential } from './exec-credential.ts';

function kubeconfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://10.0.0.1:6443', skipTLSVerify: false }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const bearer = (a: Auth) => a.headers['authorization'];
/** Lets a refresh started behind a request finish. */
const settle = () => new Promise((r) => setImmediate(r));

test('a token file is read once, then again only when 50 s old, behind the request that finds it due', async () => {
  let t = 0;
  let token = 'one';
  let reads = 0;
  const creds = createCredentials({ kc: kubeconfig({}), tokenFile: '/var/run/secrets/token' }, { now: () => t, readFile: async () => (reads++, `${token}\n`) });
  assert.equal(creds.source, 'token-file');
  assert.equal(bearer(await creds.current()), 'Bearer one', 'trimmed');
  token = 'two';
  t = TOKEN_FILE_REFRESH_MS - 1;
  assert.equal(bearer(await creds.current()), 'Bearer one');
  assert.equal(reads, 1, 'no read while fresh');
  t = TOKEN_FILE_REFRESH_MS;
  assert.equal(bearer(await creds.current()), 'Bearer one', 'the request that finds it due does not wait');
  await settle();
  assert.equal(bearer(await creds.current()), 'Bearer two');
  assert.equal(reads, 2);
});

test('a token file that cannot be re-read keeps the last token, says so, and is tried again a second later', async () => {
  let t = 0;
  let fail = false;
  let reads = 0;
  const failures: string[] = [];
  const creds = createCredentials(
    { kc: kubeconfig({}), tokenFile: '/t' },
    {
      now: () => t,
      readFile: async () => {
        reads++;
        if (fail) throw new Error('ENOENT: /t');
        return 'tok';
      },
      onRefreshFailed: (source, err) => failures.push(`${source}: ${err.message}`),
    },
  );
  await creds.current();
  fail = true;
  t = TOKEN_FILE_REFRESH_MS;
  assert.equal(bearer(await creds.current()), 'Bearer tok');
  await settle();
  assert.deepEqual(failures, ['token-file: ENOENT: /t']);
  t += 500;
  await creds.current();
  assert.equal(reads, 2, 'not again within a second');
  t += 600;
  await creds.current();
  assert.equal(reads, 3);
});

test('after a 401 the token file is read again at once; concurrent 401s share one read; an unchanged file gives nothing to retry with', async () => {
  let token = 'one';
  let reads = 0;
  const creds = createCredentials({ kc: kubeconfig({}), tokenFile: '/t' }, { now: () => 0, readFile: async () => (reads++, token) });
  const used = await creds.current();
  token = 'two';
  const renewed = await Promise.all([creds.renew(used), creds.renew(used), creds.renew(used)]);
  assert.deepEqual(renewed.map((a) => a && bearer(a)), ['Bearer two', 'Bearer two', 'Bearer two']);
  assert.equal(reads, 2);
  const again = await creds.current();
  assert.equal(await creds.renew(again), undefined, 'kubelet has not rotated it yet: the 401 stands');
});

function plugin(results: ExecCredential[]): { run: () => Promise<ExecCredential>; runs: () => number } {
  let runs = 0;
  return { run: async () => results[Math.min(runs++, results.length - 1)]!, runs: () => runs };
}

test('an exec credential with an expiry is refreshed in the last fifth of its life, at most 10 s early, behind requests', async () => {
  let t = 0;
  const p = plugin([
    { token: 'a', expiresAt: 100_000 },
    { token: 'b', expiresAt: 200_000 },
  ]);
  const creds = createCredentials({ kc: kubeconfig({ exec: { command: 'get-token' } }) }, { now: () => t, runPlugin: p.run });
  assert.equal(creds.source, 'exec');
  assert.equal(bearer(await creds.current()), 'Bearer a');
  t = 89_999;
  await creds.current();
  await settle();
  assert.equal(p.runs(), 1, '10 s of 100 left: not yet');
  t = 90_000;
  assert.equal(bearer(await creds.current()), 'Bearer a', 'still valid: used while the plugin runs');
  await settle();
  assert.equal(bearer(await creds.current()), 'Bearer b');
  assert.equal(p.runs(), 2);
});

test('a short-lived exec credential is refreshed a fifth of its life early', async () => {
  let t = 0;
  const p = plugin([{ token: 'a', expiresAt: 5_000 }, { token: 'b', expiresAt: 10_000 }]);
  const creds = createCredentials({ kc: kubeconfig({ exec: { command: 'get-token' } }) }, { now: () => t, runPlugin: p.run });
  await creds.current();
  t = 3_999;
  await creds.current();
  await settle();
  assert.equal(p.runs(), 1);
  t = 4_000;
  await creds.current();
  await settle();
  assert.equal(p.runs(), 2);
});

test('an expired exec credential is not used: the request waits for the plugin', async () => {
  let t = 0;
  const p = plugin([{ token: 'a', expiresAt: 5_000 }, { token: 'b', expiresAt: 60_000 }]);
  const creds = createCredentials({ kc: kubeconfig({ exec: { command: 'get-token' } }) }, { now: () => t, runPlugin: p.run });
  await creds.current();
  t = 5_000;
  assert.equal(bearer(await creds.current()), 'Bearer b');
});

test('an exec credential without an expiry is kept until a 401, which runs the plugin once for all callers', async () => {
  const p = plugin([{ token: 'a' }, { token: 'b' }]);
  const creds = createCredentials({ kc: kubeconfig({ exec: { command: 'get-token' } }) }, { now: () => 1e12, runPlugin: p.run });
  const used = await creds.current();
  await creds.current();
  assert.equal(p.runs(), 1);
  const renewed = await Promise.all(Array.from({ length: 5 }, () => creds.renew(used)));
  assert.ok(renewed.every((a) => a && bearer(a) === 'Bearer b'));
  assert.equal(p.runs(), 2);
});

test('an exec client certificate goes to TLS, not to a header', async () => {
  const p = plugin([{ cert: 'CERT', key: 'KEY' }]);
  const creds = createCredentials({ kc: kubeconfig({ exec: { command: 'get-cert' } }) }, { runPlugin: p.run });
  assert.deepEqual(await creds.current(), { headers: {}, tls: { cert: 'CERT', key: 'KEY' } });
});

test('a static token, basic auth, impersonation and no credentials at all; none of them has anything to renew', async () => {
  const token = createCredentials({ kc: kubeconfig({ token: 's3cret', impersonateUser: 'ops' }) });
  assert.equal(token.source, 'token');
  const used = await token.current();
  assert.deepEqual(used.headers, { authorization: 'Bearer s3cret', 'impersonate-user': 'ops' });
  assert.equal(await token.renew(used), undefined);
  const basic = createCredentials({ kc: kubeconfig({ username: 'admin', password: 'pw' }) });
  assert.deepEqual((await basic.current()).headers, { authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` });
  const none = createCredentials({ kc: kubeconfig({}) });
  assert.equal(none.source, 'none');
  assert.deepEqual((await none.current()).headers, {});
});

test("the in-cluster service account's token file is re-read like a kubeconfig tokenFile", async () => {
  const kc = kubeconfig({ authProvider: { name: 'tokenFile', config: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } } });
  const read: string[] = [];
  const creds = createCredentials({ kc }, { readFile: async (p) => (read.push(p), 'sa-token') });
  assert.equal(creds.source, 'token-file');
  assert.equal(bearer(await creds.current()), 'Bearer sa-token');
  assert.deepEqual(read, ['/var/run/secrets/kubernetes.io/serviceaccount/token']);
});

const jwt = (payload: Record<string, unknown>) => `Bearer e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

test('an OIDC id-token from client-node is used until a minute has passed or it expires, whichever is first; then client-node is asked again', async () => {
  const start = Date.now();
  const exp = Math.floor(start / 1000) + 30;
  const token = jwt({ exp }).slice('Bearer '.length);
  const kc = kubeconfig({ authProvider: { name: 'oidc', config: { 'id-token': token, 'client-id': 'tidepool', 'idp-issuer-url': 'https://idp.example' } } });
  let asked = 0;
  const apply = kc.applyToHTTPSOptions.bind(kc);
  kc.applyToHTTPSOptions = async (o) => (asked++, apply(o));
  let t = start;
  const creds = createCredentials({ kc }, { now: () => t });
  assert.equal(creds.source, 'auth-provider');
  assert.equal(bearer(await creds.current()), `Bearer ${token}`);
  t = exp * 1000 - 1;
  await creds.current();
  await settle();
  assert.equal(asked, 1, 'still valid');
  t = exp * 1000;
  await creds.current();
  await settle();
  assert.equal(asked, 2, 'asked again at its exp');
  assert.equal(jwtExpiry(`Bearer ${token}`), exp * 1000);
  assert.equal(jwtExpiry('Bearer opaque-token'), undefined);
});

test('ExecCredential output is checked as client-go checks it', () => {
  const v1 = 'client.authentication.k8s.io/v1';
  const out = (o: unknown) => JSON.stringify(o);
  assert.deepEqual(parseExecCredential(out({ apiVersion: v1, kind: 'ExecCredential', status: { token: 't', expirationTimestamp: '2030-01-01T00:00:00Z' } }), v1), {
    token: 't',
    cert: undefined,
    key: undefined,
    expiresAt: Date.UTC(2030, 0, 1),
  });
  const refusals: Array<[unknown, RegExp]> = [
    ['not json', /printed no JSON ExecCredential/],
    [{ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: 't' } }, /is configured for client\.authentication\.k8s\.io\/v1 but printed client\.authentication\.k8s\.io\/v1beta1/],
    [{ apiVersion: v1, kind: 'ExecCredential' }, /printed no status/],
    [{ apiVersion: v1, kind: 'ExecCredential', status: {} }, /neither a token nor a client certificate and key/],
    [{ apiVersion: v1, kind: 'ExecCredential', status: { clientCertificateData: 'C' } }, /certificate or key without the other/],
    [{ apiVersion: v1, kind: 'ExecCredential', status: { token: 't', expirationTimestamp: 'soon' } }, /expirationTimestamp that is not a time: soon/],
  ];
  for (const [o, why] of refusals) assert.throws(() => parseExecCredential(typeof o === 'string' ? o : out(o), v1), why);
});
