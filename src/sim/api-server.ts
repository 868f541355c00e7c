import { KubeApiError, type DeleteOptions, type KubeList, type KubeRest, type Query, type StatusDetails, type WatchEvent } from '../k8s/rest.ts';
import { then, type Awaitable } from '../apiserver/awaitable.ts';
import type { UserInfo } from '../apiserver/authentication.ts';
import { builtinKinds } from '../apiserver/builtin-kinds.ts';
import { customKind, type KindOptions, type KubeObject } from '../apiserver/kinds.ts';
import type { ApiRequest, ApiResponse, ApiResult } from '../apiserver/request.ts';
import type { ControllerOptions } from '../apiserver/controllers/run.ts';
import { createApiServer, type ApiServerOptions } from '../apiserver/server.ts';
import type { Timers } from '../apiserver/timers.ts';
import { ApiError, type StatusObject } from '../apiserver/status.ts';
import type { KindState, Store } from '../apiserver/store.ts';
import { installTidepoolCrds } from '../apiserver/tidepool-kinds.ts';
import type { Rng } from './rng.ts';
import type { Scheduler } from './scheduler.ts';

/** How one process's link to the API server misbehaves; every rate is per request (or per watch event). */
export interface LinkFaults {
  /** One-way latency, uniform in [min, max] ms. */
  readonly latencyMs: readonly [number, number];
  /** A request failed without being applied: 500, 503, 429 or a broken connection, in equal shares. */
  readonly errorRate: number;
  /** A request whose answer never comes: applied or not (even odds), then a timeout error after `timeoutMs`. */
  readonly timeoutRate: number;
  /** A write answered 409 Conflict without being applied, as when another writer got there first. */
  readonly conflictRate: number;
  /** A watch event held back by up to `watchDelayMs` more (order within one stream is kept, as the API server guarantees). */
  readonly watchDelayRate: number;
  readonly watchDelayMs: number;
  /** An answer held back by up to `slowMs` (an API server under load, a long GC pause). */
  readonly slowRate: number;
  readonly slowMs: number;
  readonly timeoutMs: number;
}

export const NO_FAULTS: LinkFaults = { latencyMs: [1, 3], errorRate: 0, timeoutRate: 0, conflictRate: 0, watchDelayRate: 0, watchDelayMs: 0, slowRate: 0, slowMs: 0, timeoutMs: 10_000 };

/** A process's client: a KubeRest whose requests take virtual time, and a switch to kill it. */
export interface SimConnection extends KubeRest {
  /** The process died: nothing in flight is answered, open watches go silent, its timers stop. */
  kill(): void;
  readonly dead: boolean;
}

/** Counters a run reports. */
export interface ApiStats {
  requests: number;
  injectedErrors: number;
  injectedTimeouts: number;
  injectedConflicts: number;
  conflicts: number;
  watchEvents: number;
  droppedWatches: number;
}

/**
 * The simulated API server: the API server component (src/apiserver/: the
 * same engine and router the test server serves over HTTP), reached in
 * process. Components under test reach it through `connect`, a KubeRest
 * with latency and faults drawn from the run's seed; the simulated cluster
 * (kubelets, workload controllers) uses `direct`, which is instant and
 * never fails, because those parts are the world, not the code under test.
 */
export interface SimApiServer {
  readonly store: Store;
  kind(plural: string): KindState;
  connect(owner: string, faults: LinkFaults): SimConnection;
  /** Synchronous, fault-free access for the simulated world; API errors are thrown as ApiError. */
  readonly direct: {
    get<T = KubeObject>(path: string): T | undefined;
    list<T = KubeObject>(path: string, query?: Query): T[];
    create<T = KubeObject>(path: string, body: unknown): T;
    patch<T = KubeObject>(path: string, body: unknown): T;
    delete(path: string, options?: DeleteOptions): void;
  };
  /**
   * Ends `count` open watches chosen at random, as a proxy or API server
   * restart would: a clean close, a broken connection, or a 410 Expired that
   * forces the client to relist. Returns how many.
   */
  dropWatches(rng: Rng, count: number): number;
  /** Objects written on one kind, for the invariants (no copy: read only). */
  objects(plural: string): Iterable<KubeObject>;
  readonly stats: ApiStats;
}

/** Every simulated process acts as a cluster administrator. */
const SIM_USER: UserInfo = { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] };

const WRITE_VERBS = new Set(['create', 'replace', 'patch', 'delete']);

/** The failures an API server (or the path to it) answers a request with, without applying it. */
const INJECTED_ERRORS: ReadonlyArray<(verb: string, path: string) => KubeApiError> = [
  (verb, path) => new KubeApiError(500, 'InternalError', `${verb} ${path}: Internal error occurred: injected by the simulator`),
  (verb, path) => new KubeApiError(503, 'ServiceUnavailable', `${verb} ${path}: the server is currently unable to handle the request`),
  (verb, path) => new KubeApiError(429, 'TooManyRequests', `${verb} ${path}: Too many requests, please try again later.`),
  (verb, path) => new KubeApiError(0, 'ConnectionFailed', `${verb} ${path}: read ECONNRESET`),
];

/** UIDs (v4-shaped) and generateName suffixes from a seeded stream, so runs replay exactly. */
export function seededIdentities(rng: Rng): { uid: () => string; randomInt: (n: number) => number } {
  return {
    uid: () => {
      const h = rng.hex(32);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
    randomInt: (n) => rng.int(n),
  };
}

const methods = { get: 'GET', list: 'GET', create: 'POST', replace: 'PUT', patch: 'PATCH', delete: 'DELETE', WATCH: 'GET' } as const;

function toQuery(query: Query | undefined): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
  return q;
}

/** The request a KubeRest call makes, as the HTTP client would send it. */
export function restRequest(verb: keyof typeof methods, path: string, opts: { query?: Query; body?: unknown; contentType?: string } = {}): ApiRequest {
  // KubeRest's default User-Agent, which names the field manager of its writes.
  const req: { -readonly [K in keyof ApiRequest]: ApiRequest[K] } = { method: methods[verb], path, query: toQuery(opts.query), contentType: '', user: SIM_USER, userAgent: 'tidepool' };
  if (opts.body !== undefined) {
    req.body = { value: opts.body };
    req.contentType = opts.contentType ?? 'application/json';
  }
  return req;
}

/** A Status answer as the KubeApiError the HTTP client would raise; `verb` prefixes the message. */
export function statusError(status: StatusObject, verb: string, path: string): KubeApiError {
  const details = status.details as StatusDetails | undefined;
  return new KubeApiError(status.code, status.reason ?? 'Unknown', `${verb} ${path}: ${status.message ?? ''}`, details);
}

/** A complete answer's body, or its Status as an ApiError. */
function bodyOf(result: ApiResult): unknown {
  const r = result as ApiResponse;
  if (r.status >= 200 && r.status < 300) return r.body;
  throw new ApiError(r.body as StatusObject);
}

/** The longest the simulated watch cache lags behind a write (the tail of `watchCacheLag`). */
export const WATCH_CACHE_LAG_MAX_MS = 200;

/**
 * How long after a write the simulated watch cache serves it: mostly 1 to 10 ms, and one write
 * in 50 from 20 to 200 ms (an apiserver busy decoding, a slow etcd watch), drawn from the seed.
 */
export function watchCacheLag(rng: Rng): () => number {
  return () => (rng.chance(0.02) ? rng.between(20, WATCH_CACHE_LAG_MAX_MS) : rng.between(1, 10));
}

/** The server's own timers run in virtual time; no process kill cancels them. */
function serverTimers(sched: Scheduler): Timers {
  return { now: () => sched.now, after: (ms, fn) => sched.after(ms, fn, 'apiserver') };
}

export interface SimApiServerOptions {
  readonly sched: Scheduler;
  readonly rng: Rng;
  readonly historySize?: number;
  readonly watchCache?: ApiServerOptions['watchCache'];
  readonly controllers?: ControllerOptions;
  /** Custom kinds served besides tidepool's (KubeVirt's, when a scenario has VMs). */
  readonly kinds?: readonly KindOptions[];
}

export function createSimApiServer(opts: SimApiServerOptions): SimApiServer {
  const { sched } = opts;
  const core = createApiServer({
    now: () => new Date(sched.now),
    historySize: opts.historySize ?? 5_000,
    ...seededIdentities(opts.rng.fork('api')),
    kinds: [...builtinKinds(), ...(opts.kinds ?? []).map(customKind)],
    namespaces: ['default', 'kube-system'],
    timers: serverTimers(sched),
    watchLag: watchCacheLag(opts.rng.fork('watch-cache')),
    ...(opts.watchCache ? { watchCache: opts.watchCache } : {}),
    ...(opts.controllers ? { controllers: opts.controllers } : {}),
  });
  const { store, router } = core;
  // tidepool's kinds come from its CRDs, installed as a cluster administrator would.
  installTidepoolCrds(router, SIM_USER);
  const byPlural = new Map<string, KindState>();
  for (const k of core.registry.all()) byPlural.set(k.spec.plural, k);
  const stats: ApiStats = { requests: 0, injectedErrors: 0, injectedTimeouts: 0, injectedConflicts: 0, conflicts: 0, watchEvents: 0, droppedWatches: 0 };
  type OpenWatch = { close(abrupt: boolean): void; expire(): void };
  const openWatches = new Set<OpenWatch>();

  /** The world's requests are answered at once: nothing asynchronous is plugged into the simulated server. */
  function directly(req: ApiRequest): unknown {
    const result = router.handle(req);
    if (result instanceof Promise) throw new Error(`the simulated API server answered ${req.method} ${req.path} asynchronously`);
    return bodyOf(result);
  }

  const wire = <T>(v: unknown): T => JSON.parse(JSON.stringify(v)) as T;

  /** A link's request as it reaches the server: a wire copy of the answer, or the KubeApiError the client would raise. */
  function serve(verb: string, path: string, req: ApiRequest): Awaitable<{ ok: true; value: unknown } | { ok: false; err: unknown }> {
    return then(router.handle(req), (result) => {
      if (result.kind !== 'response') throw new Error(`the simulated API server gave no answer to ${verb} ${path}`);
      if (result.status >= 200 && result.status < 300) return { ok: true, value: wire(result.body) };
      if (result.status === 409) stats.conflicts++;
      return { ok: false, err: statusError(result.body as StatusObject, verb, path) };
    });
  }

  function connect(owner: string, faults: LinkFaults): SimConnection {
    const link = opts.rng.fork(`link:${owner}`);
    let dead = false;
    const latency = () => link.between(faults.latencyMs[0], faults.latencyMs[1]);
    const watches = new Set<OpenWatch>();

    function call<T>(verb: keyof typeof methods, path: string, req: ApiRequest): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (dead) return;
        stats.requests++;
        const isWrite = WRITE_VERBS.has(verb);
        const roll = link.next();
        let fault: 'error' | 'timeout' | 'conflict' | undefined;
        if (roll < faults.errorRate) fault = 'error';
        else if (roll < faults.errorRate + faults.timeoutRate) fault = 'timeout';
        else if (isWrite && roll < faults.errorRate + faults.timeoutRate + faults.conflictRate && verb !== 'create') fault = 'conflict';
        const answer = (fn: () => void, ms = latency()) => sched.after(ms, () => dead || fn(), owner);
        const finish = (outcome: { ok: true; value: unknown } | { ok: false; err: unknown }) => {
          if (fault === 'timeout') {
            stats.injectedTimeouts++;
            return answer(() => reject(new KubeApiError(504, 'Timeout', `${verb} ${path}: no answer within ${faults.timeoutMs} ms`)), faults.timeoutMs);
          }
          const slow = faults.slowRate > 0 && link.chance(faults.slowRate) ? link.int(faults.slowMs + 1) : 0;
          answer(() => (outcome.ok ? resolve(outcome.value as T) : reject(outcome.err)), latency() + slow);
        };
        sched.after(
          latency(),
          () => {
            if (fault === 'error') {
              stats.injectedErrors++;
              // Which failure: where the roll fell inside its share, so no extra draw shifts the seed's other rolls.
              const err = INJECTED_ERRORS[Math.min(INJECTED_ERRORS.length - 1, Math.floor((roll / faults.errorRate) * INJECTED_ERRORS.length))]!;
              return answer(() => reject(err(verb, path)));
            }
            if (fault === 'conflict') {
              stats.injectedConflicts++;
              return answer(() => reject(new KubeApiError(409, 'Conflict', `${verb} ${path}: the object has been modified; please apply your changes to the latest version and try again`)));
            }
            const applies = fault !== 'timeout' || link.chance(0.5);
            if (!applies) return finish({ ok: false, err: undefined });
            void then(serve(verb, path, req), finish);
          },
          owner,
        );
      });
    }

    function watch<T>(path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        if (dead) return;
        stats.requests++;
        let stream: { stop(): void } | undefined;
        let closed = false;
        let lastDelivery = 0;
        let stopTimeout: (() => void) | undefined;
        let sink: { write(line: string): void } | undefined;
        const handle: OpenWatch = {
          expire() {
            // What the API server sends when a client's resourceVersion left its window: the client must relist.
            sink?.write(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version (simulated compaction)' } }) + '\n');
          },
          close(abrupt: boolean) {
            if (!stop()) return;
            // After the events already on the wire, like a TCP stream.
            sched.at(lastDelivery, () => {
              if (dead) return;
              if (abrupt) reject(new KubeApiError(0, 'ConnectionFailed', `WATCH ${path}: socket hang up`));
              else resolve();
            }, owner);
          },
        };
        /** Ends the stream on the server side; false when it had ended already. */
        function stop(): boolean {
          if (closed) return false;
          closed = true;
          stream?.stop();
          stopTimeout?.();
          watches.delete(handle);
          openWatches.delete(handle);
          return true;
        }
        const onAbort = () => {
          if (stop()) resolve();
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        const deliver = (line: string) => {
          if (closed || dead) return;
          const event = JSON.parse(line) as WatchEvent<T> & { object: StatusObject };
          if (event.type === 'ERROR') {
            stop();
            return reject(statusError(event.object, 'WATCH', path));
          }
          stats.watchEvents++;
          onEvent(event);
        };
        const started = (result: ApiResult) => {
          if (result.kind !== 'watch') {
            closed = true;
            return void sched.after(latency(), () => dead || reject(result.kind === 'response' ? statusError(result.body as StatusObject, 'WATCH', path) : new KubeApiError(0, 'ConnectionFailed', `WATCH ${path}: no answer`)), owner);
          }
          sink = {
            write(line: string) {
              if (closed) return;
              let at = sched.now + latency();
              if (faults.watchDelayRate > 0 && link.chance(faults.watchDelayRate)) at += link.int(faults.watchDelayMs + 1);
              lastDelivery = Math.max(lastDelivery, at);
              sched.at(lastDelivery, () => deliver(line), owner);
            },
          };
          stream = result.start(sink);
          if (!stream) return; // The ERROR line is on its way and closes the stream.
          watches.add(handle);
          openWatches.add(handle);
          if (result.timeoutMs) stopTimeout = sched.after(result.timeoutMs, () => handle.close(false), owner);
        };
        sched.after(
          latency(),
          () => {
            if (closed || dead) return;
            void then(router.handle(restRequest('WATCH', path, { query: { ...query, watch: 'true' } })), started);
          },
          owner,
        );
      });
    }

    const rest: SimConnection = {
      get: <T>(path: string, query?: Query) => call<T>('get', path, restRequest('get', path, { query })),
      list: <T>(path: string, query?: Query) => call<KubeList<T>>('list', path, restRequest('list', path, { query })),
      create: <T>(path: string, body: unknown) => call<T>('create', path, restRequest('create', path, { body })),
      replace: <T>(path: string, body: unknown) => call<T>('replace', path, restRequest('replace', path, { body })),
      patch: <T>(path: string, body: unknown, type: 'merge' | 'json' = 'merge') =>
        call<T>('patch', path, restRequest('patch', path, { body, contentType: type === 'merge' ? 'application/merge-patch+json' : 'application/json-patch+json' })),
      delete: <T>(path: string, options?: DeleteOptions) => call<T>('delete', path, restRequest('delete', path, { body: options && { kind: 'DeleteOptions', apiVersion: 'v1', ...options } })),
      watch,
      close() {},
      kill() {
        dead = true;
        for (const w of [...watches]) w.close(false);
        sched.cancelOwner(owner);
      },
      get dead() {
        return dead;
      },
    };
    return rest;
  }

  return {
    store,
    kind(plural) {
      const k = byPlural.get(plural);
      if (!k) throw new Error(`no kind ${plural}`);
      return k;
    },
    connect,
    direct: {
      get: <T>(path: string) => {
        try {
          return directly(restRequest('get', path)) as T;
        } catch (e) {
          if (e instanceof ApiError && e.status.code === 404) return undefined;
          throw e;
        }
      },
      list: <T>(path: string, query?: Query) => (directly(restRequest('list', path, { query })) as KubeList<T>).items,
      create: <T>(path: string, body: unknown) => directly(restRequest('create', path, { body })) as T,
      patch: <T>(path: string, body: unknown) => directly(restRequest('patch', path, { body, contentType: 'application/merge-patch+json' })) as T,
      delete: (path, options) => void directly(restRequest('delete', path, { body: options })),
    },
    dropWatches(pick, count) {
      const all = [...openWatches];
      let dropped = 0;
      for (let i = 0; i < count && all.length > 0; i++) {
        const [w] = all.splice(pick.int(all.length), 1);
        const how = pick.int(3);
        if (how === 2) w!.expire();
        else w!.close(how === 1);
        dropped++;
      }
      stats.droppedWatches += dropped;
      return dropped;
    },
    objects: (plural) => byPlural.get(plural)?.objects.values() ?? [],
    stats,
  };
}
