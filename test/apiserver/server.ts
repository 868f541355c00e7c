// The test API server: the API server component (src/apiserver/) behind the
// HTTP transport, with the controls tests need: injected faults, stats,
// dropped watches, stored objects, minted tokens, kubeconfigs. README.md in
// src/apiserver/ lists exactly what is and is not faithful.
import { writeFileSync } from 'node:fs';
import type { Authenticator, UserInfo } from '../../src/apiserver/authentication.ts';
import { fixedUser } from '../../src/apiserver/authentication.ts';
import { allowAll, type AuthorizationAttributes } from '../../src/apiserver/authorization.ts';
import { builtinKinds } from '../../src/apiserver/builtin-kinds.ts';
import type { KindOptions, KindSpec, KubeObject } from '../../src/apiserver/kinds.ts';
import { customKind } from '../../src/apiserver/kinds.ts';
import { accessReviewFilter, accessReviewKinds } from '../../src/apiserver/rbac/access-reviews.ts';
import { rbacAuthorizer } from '../../src/apiserver/rbac/authorizer.ts';
import { storeBootstrapPolicy } from '../../src/apiserver/rbac/bootstrap.ts';
import { rbacKinds } from '../../src/apiserver/rbac/kinds.ts';
import { ADMIN, createApiServer, DEFAULT_NAMESPACES, type ApiServer, type ApiServerOptions } from '../../src/apiserver/server.ts';
import { serviceAccountKind } from '../../src/apiserver/service-accounts.ts';
import type { ControllerOptions } from '../../src/apiserver/controllers/run.ts';
import type { Timers } from '../../src/apiserver/timers.ts';
import { TIDEPOOL_KINDS } from '../../src/apiserver/tidepool-kinds.ts';
import { createStoredWebhookAdmission } from '../../src/apiserver/webhooks/plugin.ts';
import { createWebhookCertificates } from '../../src/controller/certificates.ts';
import { createTokenAuthority } from './authn.ts';
import { createAuthorizationLog } from './authorization-log.ts';
import { createFaults, type FaultHandle, type FaultSpec } from './faults.ts';
import { serveHttp } from './http.ts';
import { kubeconfigText } from './kubeconfig.ts';
import { createStats, type ServerStats } from './stats.ts';

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
  /** How many past writes paged lists and exact reads can reach (etcd's compaction window); default 10,000. */
  historySize?: number;
  /**
   * How long after a write its watch event is served, in ms: a number, or [min, max] for a uniform
   * draw per write; default [1, 5]. Events always follow the write's response.
   */
  watchLagMs?: number | readonly [number, number];
  /** The watch cache's block timeout (3 s), per-resource window (100 to 102,400 events) and bookmark period. */
  watchCache?: ApiServerOptions['watchCache'];
  /** Controllers running in the server (garbage collector, namespace, pod GC); all by default. */
  controllers?: ControllerOptions;
  /** The controllers' timers, for a test that runs them in its virtual time; default the real ones, reading `now`. */
  controllerTimers?: Timers;
  /** Period of BOOKMARK events to watches that allow them; default 60,000 (the real server's is about a minute). */
  bookmarkIntervalMs?: number;
  /** Namespaces present at start; default the four every cluster has. */
  namespaces?: string[];
  /** Serve tidepool's custom resources from the start; default true. */
  tidepoolKinds?: boolean;
  /** Extra kinds to serve from the start (same as calling registerKind). */
  kinds?: KindOptions[];
  /** The user every request runs as (and webhooks are told of); default an admin-like test user. */
  userInfo?: UserInfo;
  /**
   * Bearer-token authentication and RBAC (default off: every request is
   * served as `userInfo`). When on, a request needs the token of
   * kubeconfig() (the administrator; never expires) or one from mintToken()
   * or serviceAccountToken() that has not expired by the real clock;
   * anything else gets the real server's 401, and no credentials at all
   * make it system:anonymous. Every request is then authorized by RBAC from
   * the stored ClusterRoles, Roles and bindings, starting from the real
   * server's bootstrap policy (system:masters may do anything; everyone may
   * read /healthz, /livez, /readyz, /version; authenticated users also
   * discovery). Open watches are not cut when their token expires, as on
   * the real server.
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
  /** The administrator's token (system:masters), which kubeconfig() carries by default and never expires. */
  readonly adminToken: string;
  writeKubeconfig(path: string, user?: Record<string, unknown>): void;
  /** A bearer token for `user` (default the administrator) accepted for `lifetimeMs` from now (with `authentication` on). */
  mintToken(lifetimeMs: number, user?: UserInfo): string;
  /**
   * A token of the stored ServiceAccount `namespace/name`, valid for
   * `lifetimeMs` (default until revoked) and while that ServiceAccount
   * exists (with `authentication` on). Throws if it does not exist.
   */
  serviceAccountToken(namespace: string, name: string, lifetimeMs?: number): string;
  /** Makes a token invalid now. */
  revokeToken(token: string): void;
  /** Serves another kind, as installing a CRD would. */
  registerKind(opts: KindOptions): void;
  /**
   * Where the Service `namespace/name` serves `port` (443 if not given): the
   * `host:port` of a process on this machine, or undefined to remove the
   * route. Validating webhooks whose clientConfig names that Service are
   * called there, over TLS verified for `<name>.<namespace>.svc` against
   * their caBundle, as the real server calls a Service's endpoint. A Service
   * without a route does not resolve. Test-only: the real server finds the
   * endpoint through the cluster's network.
   */
  routeService(service: { namespace: string; name: string; port?: number }, address: string | undefined): void;
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
  /** Messages of the 403s authorization answered so far (`... is forbidden: User "x" cannot ...`), not injected ones; resetStats keeps them. */
  denials(): string[];
  /** The same, forgetting them: a test that provoked refusals on purpose takes them. */
  takeDenials(): string[];
  /** Every distinct request authorization allowed to a user outside system:masters, as the authorizer saw it. */
  allowedRequests(): AuthorizationAttributes[];
  /** Copies of every stored object of a resource (`pods`, `ippools` or `ippools.tidepool.dev`), sorted by key. */
  objects(resource: string): KubeObject[];
  /** The current global resourceVersion. */
  resourceVersion(): string;
  close(): Promise<void>;
}

const TOKEN = 'tidepool-fake-token';

/** What the test server serves: the built-in kinds, ServiceAccounts, RBAC, and `custom` resources. */
export function servedKinds(custom: readonly KindOptions[]): KindSpec[] {
  return [...builtinKinds(), serviceAccountKind(), ...rbacKinds(), ...accessReviewKinds(), ...custom.map(customKind)];
}

function lagFrom(lag: number | readonly [number, number]): () => number {
  if (typeof lag === 'number') return () => lag;
  const [min, max] = lag;
  return () => min + Math.random() * (max - min);
}

/** Starts a test API server on 127.0.0.1. */
export async function createFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const user = opts.userInfo ?? ADMIN;
  let store: ApiServer['store'] | undefined;
  const serviceAccount = (namespace: string, name: string) => {
    const k = store?.kind('', 'serviceaccounts');
    return k && store?.get(k, namespace, name);
  };
  const authority = opts.authentication ? createTokenAuthority(serviceAccount) : undefined;
  authority?.mint(Number.POSITIVE_INFINITY, { user }, TOKEN);
  const authenticator: Authenticator = authority ? authority.authenticator : fixedUser(user);
  const routes = new Map<string, { host: string; port: number }>();
  const routeKey = (namespace: string, name: string, port: number) => `${namespace}/${name}:${port}`;
  let webhooks: ReturnType<typeof createStoredWebhookAdmission> | undefined;
  const faults = createFaults();
  const stats = createStats();
  const authorizations = createAuthorizationLog();
  const custom = [...(opts.tidepoolKinds === false ? [] : TIDEPOOL_KINDS), ...(opts.kinds ?? [])];
  let port = 0;
  const core = createApiServer({
    now: opts.now ?? (() => new Date()),
    uid: opts.uid,
    randomInt: opts.randomInt,
    historySize: opts.historySize,
    watchLag: lagFrom(opts.watchLagMs ?? [1, 5]),
    watchCache: { bookmarkIntervalMs: opts.bookmarkIntervalMs, ...opts.watchCache },
    controllers: opts.controllers,
    controllerTimers: opts.controllerTimers,
    kinds: servedKinds(custom),
    namespaces: opts.namespaces ?? DEFAULT_NAMESPACES,
    authenticator,
    authorizer: authority ? authorizations.wrap((a) => authorizeRbac(a)) : allowAll,
    admission: [{ name: 'ValidatingAdmissionWebhook', validate: (a) => webhooks!.validate(a) }],
    filters: [stats.filter, faults.filter, accessReviewFilter((a) => (authority ? authorizeRbac(a) : allowAll(a)))],
    address: () => `127.0.0.1:${port}`,
  });
  store = core.store;
  webhooks = createStoredWebhookAdmission({ store: core.store, resolveService: (ns, name, p) => routes.get(routeKey(ns, name, p)) });
  const authorizeRbac = rbacAuthorizer(core.store);
  if (authority) storeBootstrapPolicy(core);
  const certs = opts.tls ? createWebhookCertificates({ hosts: ['localhost', '127.0.0.1', '::1'], now: Date.now(), caName: 'tidepool-test-apiserver-ca' }) : undefined;
  const front = await serveHttp(core.router, { port: opts.port ?? 0, tls: certs && { cert: certs.certPem, key: certs.keyPem }, onReply: stats.reply });
  port = front.port;

  const kubeconfig = (u: Record<string, unknown> = { token: TOKEN }): string => kubeconfigText({ server: front.url, user: u, caPem: certs?.caPem });

  return {
    url: front.url,
    port,
    core,
    kubeconfig,
    adminToken: TOKEN,
    writeKubeconfig(path, u) {
      writeFileSync(path, kubeconfig(u), { mode: 0o600 });
    },
    mintToken(lifetimeMs, u = user) {
      if (!authority) throw new Error('mintToken needs the server started with authentication: true');
      return authority.mint(lifetimeMs, { user: u });
    },
    serviceAccountToken(namespace, name, lifetimeMs = Number.POSITIVE_INFINITY) {
      if (!authority) throw new Error('serviceAccountToken needs the server started with authentication: true');
      const sa = serviceAccount(namespace, name);
      if (!sa) throw new Error(`serviceaccounts "${name}" not found in namespace ${namespace}`);
      return authority.mint(lifetimeMs, { serviceAccount: { namespace, name, uid: sa.metadata.uid ?? '' } });
    },
    revokeToken: (token) => authority?.revoke(token),
    registerKind: (k) => void core.registry.add(customKind(k)),
    routeService({ namespace, name, port = 443 }, address) {
      if (address === undefined) return void routes.delete(routeKey(namespace, name, port));
      const at = address.lastIndexOf(':');
      routes.set(routeKey(namespace, name, port), { host: address.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(address.slice(at + 1)) });
    },
    injectFault: (spec) => faults.inject(spec),
    clearFaults: () => faults.clear(),
    dropWatches: (o) => front.dropWatches(o?.abrupt ?? false),
    sendBookmarks: () => core.watchCache.sendBookmarks(),
    watchCount: () => front.watchCount(),
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    denials: () => authorizations.denials(),
    takeDenials: () => authorizations.takeDenials(),
    allowedRequests: () => authorizations.allowed(),
    objects(resource) {
      const k = core.registry.lookup(resource);
      return [...k.objects.keys()].sort().map((key) => structuredClone(k.objects.get(key)!));
    },
    resourceVersion: () => String(core.store.resourceVersion),
    async close() {
      core.stop();
      await front.close();
      webhooks!.close();
    },
  };
}
