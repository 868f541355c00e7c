// The API server component: a store, the kinds it serves, a watch cache,
// the router over them and the controllers that run beside it, composed
// from injected parts. Clock, timers, UIDs and randomness are injected, so
// the simulator runs it in virtual time with seeded identities and a seeded
// watch lag; authentication, authorization, admission and filters are
// injected, so each host plugs in what it needs. Transports call
// `router.handle`; `stop` cancels everything the server scheduled.
import type { AdmissionPlugin } from './admission.ts';
import { fixedUser, type Authenticator, type UserInfo } from './authentication.ts';
import { allowAll, type Authorizer } from './authorization.ts';
import { builtinKinds } from './builtin-kinds.ts';
import type { KindSpec } from './kinds.ts';
import { createKindRegistry, type KindRegistry } from './registry.ts';
import { createRouter, DEFAULT_HANDLERS, type Filter, type HandlerTable, type Router } from './router.ts';
import { Store } from './store.ts';
import { cancellableTimers, realTimers, type Timers } from './timers.ts';
import { createWatchCache, type WatchCache } from './watch-cache.ts';
import type { HistorySizing } from './watch-history.ts';
import { startControllers, type ControllerOptions } from './controllers/run.ts';

export interface ApiServerOptions {
  /** Clock for creationTimestamp and deletionTimestamp. */
  readonly now: () => Date;
  /** New object UIDs; default random v4 UUIDs. */
  readonly uid?: () => string;
  /** An integer in [0, n), for generateName suffixes; default crypto's. */
  readonly randomInt?: (n: number) => number;
  /** How many past writes watches and paged lists can resume from; default 10,000. */
  readonly historySize?: number;
  /** Kinds served from the start; default builtinKinds(). */
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
  /** Timers for the watch cache (its lag, waits and bookmarks); default the real clock's. */
  readonly timers?: Timers;
  /**
   * Timers for the controllers; default `timers` reading the server's clock (`now`), so the
   * times they compare with objects' timestamps are the server's. A test on a manual clock
   * passes its own, to run the controllers in its virtual time.
   */
  readonly controllerTimers?: Timers;
  /** How long after a write the watch cache has it, drawn per write (ms); default 1 to 5 ms. */
  readonly watchLag?: () => number;
  /** The watch cache's block timeout (3 s), bookmark period (1 min) and per-resource window (100 to 102,400 events, 75 s fresh). */
  readonly watchCache?: { readonly blockTimeoutMs?: number; readonly bookmarkIntervalMs?: number; readonly history?: HistorySizing };
  /** Which controllers run in the server; all by default. */
  readonly controllers?: ControllerOptions;
  /** host:port the server is reached at; default 127.0.0.1:443. */
  readonly address?: () => string;
}

/** A running API server component, before any transport. */
export interface ApiServer {
  readonly store: Store;
  readonly registry: KindRegistry;
  readonly watchCache: WatchCache;
  readonly router: Router;
  /** Stops the watch cache and the controllers and cancels their timers. */
  stop(): void;
}

/** The user of servers without authentication: a cluster administrator. */
export const ADMIN: UserInfo = { username: 'tidepool-test', groups: ['system:masters', 'system:authenticated'] };

export const DEFAULT_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export function createApiServer(opts: ApiServerOptions): ApiServer {
  const store = new Store({ now: opts.now, historySize: opts.historySize ?? 10_000, uid: opts.uid, randomInt: opts.randomInt });
  const registry = createKindRegistry(store);
  for (const spec of opts.kinds ?? builtinKinds()) registry.add(spec);
  const nsKind = registry.resolve('', 'v1', 'namespaces')!;
  for (const ns of opts.namespaces ?? DEFAULT_NAMESPACES) store.commitCreate(nsKind, store.prepareCreate(nsKind, undefined, { metadata: { name: ns } }));
  const timers = cancellableTimers(opts.timers ?? realTimers());
  const randomInt = opts.randomInt ?? ((n: number) => Math.floor(Math.random() * n));
  const watchCache = createWatchCache(store, {
    timers,
    lag: opts.watchLag ?? (() => 1 + Math.random() * 4),
    randomInt,
    ...opts.watchCache,
  });
  const router = createRouter({
    store,
    registry,
    watchCache,
    authenticator: opts.authenticator ?? fixedUser(ADMIN),
    authorizer: opts.authorizer ?? allowAll,
    admission: opts.admission ?? [],
    filters: opts.filters ?? [],
    handlers: opts.handlers ?? DEFAULT_HANDLERS,
    address: opts.address ?? (() => '127.0.0.1:443'),
  });
  const base = opts.timers ?? realTimers();
  const controllerTimers = cancellableTimers(opts.controllerTimers ?? { now: () => opts.now().getTime(), after: base.after });
  const controllers = startControllers({ store, registry, cache: watchCache, router, timers: controllerTimers }, opts.controllers);
  return {
    store,
    registry,
    watchCache,
    router,
    stop() {
      controllers.stop();
      watchCache.stop();
      timers.cancelAll();
      controllerTimers.cancelAll();
    },
  };
}
