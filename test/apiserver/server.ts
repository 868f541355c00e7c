// The test API server: the API server component (src/apiserver/) behind the
// HTTP transport, with the controls tests need: injected faults, stats,
// dropped watches, stored objects, minted tokens, kubeconfigs. README.md in
// src/apiserver/ lists exactly what is and is not faithful.
import { writeFileSync } from 'node:fs';
import type { Authenticator, UserInfo } from '../../src/apiserver/authentication.ts';
import { fixedUser } from '../../src/apiserver/authentication.ts';
import { allowAll, anonymousPublicOnly } from '../../src/apiserver/authorization.ts';
import { builtinKinds } from '../../src/apiserver/builtin-kinds.ts';
import type { KindOptions, KubeObject } from '../../src/apiserver/kinds.ts';
import { customKind } from '../../src/apiserver/kinds.ts';
import { ADMIN, createApiServer, DEFAULT_NAMESPACES, type ApiServer } from '../../src/apiserver/server.ts';
import { installCrds } from '../../src/apiserver/crd/install.ts';
import type { AdmissionWebhook } from '../../src/apiserver/webhook-admission.ts';
import { createWebhookAdmission } from '../../src/apiserver/webhook-admission.ts';
import { createWebhookCertificates } from '../../src/controller/certificates.ts';
import { createTokenAuthority } from './authn.ts';
import { createFaults, type FaultHandle, type FaultSpec } from './faults.ts';
import { serveHttp } from './http.ts';
import { kubeconfigText } from './kubeconfig.ts';
import { createStats, type ServerStats } from './stats.ts';
import { tidepoolCrdObjects } from './tidepool-crds.ts';

export type { AdmissionWebhook, AdmissionRule } from '../../src/apiserver/webhook-admission.ts';
export type { AdmissionOperation } from '../../src/apiserver/admission.ts';
export type { UserInfo } from '../../src/apiserver/authentication.ts';
export type { KindOptions, KubeObject, ObjectMeta } from '../../src/apiserver/kinds.ts';
export type { Verb } from '../../src/apiserver/request-info.ts';
export type { StatusObject } from '../../src/apiserver/status.ts';
export type { FaultHandle, FaultSpec } from './faults.ts';
export type { ServerStats } from './stats.ts';

export interface FakeApiServerOptions {
  /** TCP port on 127.0.0.1; default 0 (any free port). */
  port?: number;
  /** Serve HTTPS with a certificate signed by a fresh CA, which kubeconfig() carries. Default plain HTTP. */
  tls?: boolean;
  /** Clock for creationTimestamp and deletionTimestamp; default the real clock. */
  now?: () => Date;
  /** New object UIDs and generateName suffixes; default random. */
  uid?: () => string;
  randomInt?: (n: number) => number;
  /** How many past writes watches and paged lists can resume from; default 10,000. */
  historySize?: number;
  /** Validating admission webhooks; replace at runtime with setAdmission. */
  admission?: AdmissionWebhook[];
  /** Period of BOOKMARK events to watches that allow them; default 60,000 (the real server's is about a minute). */
  bookmarkIntervalMs?: number;
  /** Namespaces present at start; default the four every cluster has. */
  namespaces?: string[];
  /** Create tidepool's CustomResourceDefinitions (deploy/tidepool/crds/) at start, so its kinds are served; default true. */
  tidepoolKinds?: boolean;
  /** Extra kinds to serve from the start (same as calling registerKind). */
  kinds?: KindOptions[];
  /** The user every request runs as (and webhooks are told of); default an admin-like test user. */
  userInfo?: UserInfo;
  /**
   * Bearer-token authentication (default off: every request is served).
   * When on, a request needs the token of kubeconfig() (never expires) or
   * one from mintToken() that has not expired by the real clock; anything
   * else gets the real server's 401, and no credentials at all a 403 as
   * system:anonymous (except /healthz, /livez, /readyz, /version). Open
   * watches are not cut when their token expires, as on the real server.
   */
  authentication?: boolean;
}

/** A running test API server. */
export interface FakeApiServer {
  /** `http://127.0.0.1:<port>`, or https with `tls`. */
  readonly url: string;
  readonly port: number;
  /** The component behind the HTTP front: store, kind registry, router. */
  readonly core: ApiServer;
  /**
   * A kubeconfig for this server: its CA (with `tls`) or insecure-skip-tls-verify
   * (client-node needs it for http), and a user with the server's permanent
   * token, or the `user` given (e.g. `{ tokenFile: path }` or `{ exec: {...} }`).
   */
  kubeconfig(user?: Record<string, unknown>): string;
  writeKubeconfig(path: string, user?: Record<string, unknown>): void;
  /** A bearer token accepted for `lifetimeMs` from now (with `authentication` on). */
  mintToken(lifetimeMs: number): string;
  /** Makes a token invalid now. */
  revokeToken(token: string): void;
  /** Serves another kind at once, without a CustomResourceDefinition object (POST one to /apis/apiextensions.k8s.io/v1/customresourcedefinitions for the real thing). */
  registerKind(opts: KindOptions): void;
  /**
   * Runs `write` while the CRD of `resource` (`ipallocations.tidepool.dev`)
   * accepts any spec, then puts the CRD back: the objects written meanwhile
   * stay as written, as records from an older, looser CRD stay in a cluster.
   * For tests of how tidepool copes with malformed records.
   */
  withLooseSchema<T>(resource: string, write: () => Promise<T>): Promise<T>;
  /** Replaces the validating admission webhooks. */
  setAdmission(hooks: AdmissionWebhook[]): void;
  injectFault(fault: FaultSpec): FaultHandle;
  clearFaults(): void;
  /**
   * Ends every open watch, as an API server restart would. Default: the stream ends
   * cleanly; `abrupt` destroys the connections instead. Returns how many were dropped.
   */
  dropWatches(opts?: { abrupt?: boolean }): number;
  /** Sends a BOOKMARK now to every watch that allowed bookmarks; returns how many got one. */
  sendBookmarks(): number;
  /** Open watch streams. */
  watchCount(): number;
  stats(): ServerStats;
  resetStats(): void;
  /** Copies of every stored object of a resource (`pods`, `ippools` or `ippools.tidepool.dev`), sorted by key. */
  objects(resource: string): KubeObject[];
  /** The current global resourceVersion. */
  resourceVersion(): string;
  close(): Promise<void>;
}

const TOKEN = 'tidepool-fake-token';

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** A CRD request through the router, as `user`; the answer's body, or a thrown Error with the server's message. */
async function crdRequest(core: ApiServer, user: UserInfo, method: 'GET' | 'PUT', name: string, body?: unknown): Promise<Record<string, any>> {
  const req = { method, path: `${CRDS}/${name}`, query: new URLSearchParams(), contentType: 'application/json', user, ...(body ? { body: { value: body } } : {}) };
  const r = (await core.router.handle(req)) as { status: number; body: Record<string, any> };
  if (r.status >= 300) throw new Error(`${method} ${name}: ${String(r.body['message'])}`);
  return r.body;
}

async function withLooseSchema<T>(core: ApiServer, user: UserInfo, resource: string, write: () => Promise<T>): Promise<T> {
  const original = await crdRequest(core, user, 'GET', resource);
  const loose = structuredClone(original);
  const props = loose['spec'].versions[0].schema.openAPIV3Schema.properties;
  props.spec = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  await crdRequest(core, user, 'PUT', resource, loose);
  try {
    return await write();
  } finally {
    const current = await crdRequest(core, user, 'GET', resource);
    await crdRequest(core, user, 'PUT', resource, { ...current, spec: original['spec'] });
  }
}

/** Starts a test API server on 127.0.0.1. */
export async function createFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const user = opts.userInfo ?? ADMIN;
  const authority = opts.authentication ? createTokenAuthority(TOKEN, user) : undefined;
  const authenticator: Authenticator = authority ? authority.authenticator : fixedUser(user);
  // Webhooks are configured once tidepool's CRDs are installed, as a chart's would be.
  let hooks: AdmissionWebhook[] = [];
  const webhooks = createWebhookAdmission(() => hooks);
  const faults = createFaults();
  const stats = createStats();
  let port = 0;
  const core = createApiServer({
    now: opts.now ?? (() => new Date()),
    uid: opts.uid,
    randomInt: opts.randomInt,
    historySize: opts.historySize,
    kinds: [...builtinKinds(), ...(opts.kinds ?? []).map(customKind)],
    namespaces: opts.namespaces ?? DEFAULT_NAMESPACES,
    authenticator,
    authorizer: authority ? anonymousPublicOnly : allowAll,
    admission: [webhooks],
    filters: [stats.filter, faults.filter],
    address: () => `127.0.0.1:${port}`,
  });
  if (opts.tidepoolKinds !== false) installCrds(core.router, tidepoolCrdObjects(), user);
  hooks = [...(opts.admission ?? [])];
  stats.reset();
  const certs = opts.tls ? createWebhookCertificates({ hosts: ['localhost', '127.0.0.1', '::1'], now: Date.now(), caName: 'tidepool-test-apiserver-ca' }) : undefined;
  const front = await serveHttp(core.router, { port: opts.port ?? 0, tls: certs && { cert: certs.certPem, key: certs.keyPem }, onReply: stats.reply });
  port = front.port;
  const bookmarkTimer = setInterval(() => void core.watchCache.sendBookmarks(), opts.bookmarkIntervalMs ?? 60_000);
  bookmarkTimer.unref();

  const kubeconfig = (u: Record<string, unknown> = { token: TOKEN }): string => kubeconfigText({ server: front.url, user: u, caPem: certs?.caPem });

  return {
    url: front.url,
    port,
    core,
    kubeconfig,
    writeKubeconfig(path, u) {
      writeFileSync(path, kubeconfig(u), { mode: 0o600 });
    },
    mintToken(lifetimeMs) {
      if (!authority) throw new Error('mintToken needs the server started with authentication: true');
      return authority.mint(lifetimeMs);
    },
    revokeToken: (token) => authority?.revoke(token),
    registerKind: (k) => void core.registry.add(customKind(k)),
    withLooseSchema: (resource, write) => withLooseSchema(core, user, resource, write),
    setAdmission(next) {
      hooks = [...next];
    },
    injectFault: (spec) => faults.inject(spec),
    clearFaults: () => faults.clear(),
    dropWatches: (o) => front.dropWatches(o?.abrupt ?? false),
    sendBookmarks: () => core.watchCache.sendBookmarks(),
    watchCount: () => front.watchCount(),
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    objects(resource) {
      const k = core.registry.lookup(resource);
      return [...k.objects.keys()].sort().map((key) => structuredClone(k.objects.get(key)!));
    },
    resourceVersion: () => String(core.store.resourceVersion),
    async close() {
      clearInterval(bookmarkTimer);
      await front.close();
      webhooks.close();
    },
  };
}
