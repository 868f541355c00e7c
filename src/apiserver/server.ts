// The API server component: a store, the kinds it serves, a watch cache and
// the router over them, composed from injected parts. Clock, UIDs and
// randomness are injected, so the simulator runs it in virtual time with
// seeded identities; authentication, authorization, admission and filters
// are injected, so each host plugs in what it needs. Transports call
// `router.handle`.
import type { AdmissionPlugin } from './admission.ts';
import { fixedUser, type Authenticator, type UserInfo } from './authentication.ts';
import { allowAll, type Authorizer } from './authorization.ts';
import { builtinKinds } from './builtin-kinds.ts';
import { createCrdController } from './crd/controller.ts';
import { CRD_GROUP, CRD_PLURAL, customResourceDefinitionKind } from './crd/crd-kind.ts';
import { withCustomResourceDefinitions } from './crd/handlers.ts';
import type { KindSpec } from './kinds.ts';
import { createKindRegistry, type KindRegistry } from './registry.ts';
import { createRouter, DEFAULT_HANDLERS, type Filter, type HandlerTable, type Router } from './router.ts';
import { Store } from './store.ts';
import { storeWatchCache, type WatchCache } from './watch-cache.ts';

export interface ApiServerOptions {
  /** Clock for creationTimestamp and deletionTimestamp. */
  readonly now: () => Date;
  /** New object UIDs; default random v4 UUIDs. */
  readonly uid?: () => string;
  /** An integer in [0, n), for generateName suffixes; default crypto's. */
  readonly randomInt?: (n: number) => number;
  /** How many past writes watches and paged lists can resume from; default 10,000. */
  readonly historySize?: number;
  /** Kinds served from the start; default builtinKinds(). CustomResourceDefinitions are always served. */
  readonly kinds?: readonly KindSpec[];
  /** Namespaces present at start; default the four every cluster has. */
  readonly namespaces?: readonly string[];
  /** Default: every request is `ADMIN`, whatever it carries. */
  readonly authenticator?: Authenticator;
  /** Default: allow everything. */
  readonly authorizer?: Authorizer;
  readonly admission?: readonly AdmissionPlugin[];
  readonly filters?: readonly Filter[];
  /** Default: DEFAULT_HANDLERS. */
  readonly handlers?: HandlerTable;
  /** Default: the store's history (storeWatchCache). */
  readonly watchCache?: (store: Store) => WatchCache;
  /** host:port the server is reached at; default 127.0.0.1:443. */
  readonly address?: () => string;
}

/** A running API server component, before any transport. */
export interface ApiServer {
  readonly store: Store;
  readonly registry: KindRegistry;
  readonly watchCache: WatchCache;
  readonly router: Router;
}

/** The user of servers without authentication: a cluster administrator. */
export const ADMIN: UserInfo = { username: 'tidepool-test', groups: ['system:masters', 'system:authenticated'] };

export const DEFAULT_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export function createApiServer(opts: ApiServerOptions): ApiServer {
  const store = new Store({ now: opts.now, historySize: opts.historySize ?? 10_000, uid: opts.uid, randomInt: opts.randomInt });
  const registry = createKindRegistry(store);
  for (const spec of opts.kinds ?? builtinKinds()) registry.add(spec);
  if (!registry.resolve(CRD_GROUP, 'v1', CRD_PLURAL)) registry.add(customResourceDefinitionKind());
  const crds = createCrdController(store, registry, opts.now);
  const nsKind = registry.resolve('', 'v1', 'namespaces')!;
  for (const ns of opts.namespaces ?? DEFAULT_NAMESPACES) store.commitCreate(nsKind, store.prepareCreate(nsKind, undefined, { metadata: { name: ns } }));
  const watchCache = (opts.watchCache ?? storeWatchCache)(store);
  const router = createRouter({
    store,
    registry,
    watchCache,
    authenticator: opts.authenticator ?? fixedUser(ADMIN),
    authorizer: opts.authorizer ?? allowAll,
    admission: opts.admission ?? [],
    filters: opts.filters ?? [],
    handlers: withCustomResourceDefinitions(opts.handlers ?? DEFAULT_HANDLERS, crds, opts.now),
    address: opts.address ?? (() => '127.0.0.1:443'),
  });
  return { store, registry, watchCache, router };
}
