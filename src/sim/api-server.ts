import { KubeApiError, type DeleteOptions, type KubeList, type KubeRest, type Query, type WatchEvent } from '../k8s/rest.ts';
import type { KubeObject } from '../apiserver/kinds.ts';
import { builtinKinds } from '../apiserver/builtin-kinds.ts';
import { customKind } from '../apiserver/kinds.ts';
import { TIDEPOOL_KINDS } from '../apiserver/tidepool-kinds.ts';
import { applyJsonPatch, applyMergePatch, PatchError } from '../apiserver/patch.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../apiserver/selectors.ts';
import { ApiError, badRequest, failure, pageNotFound } from '../apiserver/status.ts';
import { Store, type Filter, type KindState, type Watcher } from '../apiserver/store.ts';
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

interface Route {
  kind: KindState;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
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
 * The simulated API server: the same storage engine as the test fake
 * (revisions, history, watch replay, graceful pod deletion, namespace
 * termination, preconditions), served in process. Components under test
 * reach it through `connect`, with latency and faults drawn from the run's
 * seed; the simulated cluster (kubelets, workload controllers) uses `direct`,
 * which is instant and never fails, because those parts are the world, not
 * the code under test.
 */
export interface SimApiServer {
  readonly store: Store;
  kind(plural: string): KindState;
  connect(owner: string, faults: LinkFaults): SimConnection;
  /** Synchronous, fault-free access for the simulated world. */
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

const WRITE_VERBS = new Set(['create', 'replace', 'patch', 'delete']);

/** The failures an API server (or the path to it) answers a request with, without applying it. */
const INJECTED_ERRORS: ReadonlyArray<(verb: string, path: string) => KubeApiError> = [
  (verb, path) => new KubeApiError(500, 'InternalError', `${verb} ${path}: Internal error occurred: injected by the simulator`),
  (verb, path) => new KubeApiError(503, 'ServiceUnavailable', `${verb} ${path}: the server is currently unable to handle the request`),
  (verb, path) => new KubeApiError(429, 'TooManyRequests', `${verb} ${path}: Too many requests, please try again later.`),
  (verb, path) => new KubeApiError(0, 'ConnectionFailed', `${verb} ${path}: read ECONNRESET`),
];

export function createSimApiServer(opts: { sched: Scheduler; rng: Rng; historySize?: number }): SimApiServer {
  const { sched } = opts;
  const rng = opts.rng.fork('api');
  const store = new Store({
    now: () => new Date(sched.now),
    historySize: opts.historySize ?? 5_000,
    uid: () => {
      const h = rng.hex(32);
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
    randomInt: (n) => rng.int(n),
  });
  for (const spec of [...builtinKinds(), ...TIDEPOOL_KINDS.map(customKind)]) store.addKind(spec);
  const byPlural = new Map<string, KindState>();
  for (const k of store.kinds.values()) byPlural.set(k.spec.plural, k);
  const nsKind = byPlural.get('namespaces')!;
  for (const ns of ['default', 'kube-system']) store.commitCreate(nsKind, store.prepareCreate(nsKind, undefined, { metadata: { name: ns } }));
  const stats: ApiStats = { requests: 0, injectedErrors: 0, injectedTimeouts: 0, injectedConflicts: 0, conflicts: 0, watchEvents: 0, droppedWatches: 0 };
  type OpenWatch = { close(abrupt: boolean): void; expire(): void };
  const openWatches = new Set<OpenWatch>();

  function route(path: string): Route {
    const segs = path.split('?')[0]!.split('/').filter(Boolean);
    let rest: string[];
    if (segs[0] === 'api' && segs[1] === 'v1') rest = segs.slice(2);
    else if (segs[0] === 'apis' && segs.length >= 3) rest = segs.slice(3);
    else throw pageNotFound();
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const kind = byPlural.get(rest[0] ?? '');
    if (!kind || rest.length > 3 || (namespace !== undefined && !kind.spec.namespaced)) throw pageNotFound();
    return { kind, namespace, name: rest[1], subresource: rest[2] };
  }

  function filterOf(r: Route, query: Query | undefined): Filter {
    let filter: Filter;
    try {
      filter = { fields: parseFieldSelector(String(query?.['fieldSelector'] ?? '')) };
      const label = query?.['labelSelector'];
      if (label) filter.label = parseLabelSelector(String(label));
    } catch (e) {
      if (e instanceof SelectorError) throw badRequest(e.message);
      throw e;
    }
    store.checkFieldSelector(r.kind, filter.fields);
    if (r.namespace !== undefined) filter.namespace = r.namespace;
    return filter;
  }

  function current(r: Route): KubeObject {
    const obj = store.get(r.kind, r.namespace, r.name ?? '');
    if (!obj) throw failure(404, 'NotFound', `${r.kind.spec.plural} "${r.name}" not found`, { name: r.name ?? '', kind: r.kind.spec.plural });
    return obj;
  }

  const ops = {
    get(path: string): KubeObject {
      const r = route(path);
      if (r.name === undefined) throw pageNotFound();
      return current(r);
    },
    list(path: string, query?: Query): KubeList<KubeObject> {
      const r = route(path);
      const page = store.list(r.kind, filterOf(r, query), {});
      return { metadata: { resourceVersion: String(page.rv) }, items: page.items };
    },
    create(path: string, body: unknown): KubeObject {
      const r = route(path);
      return store.commitCreate(r.kind, store.prepareCreate(r.kind, r.namespace, structuredClone(body)));
    },
    update(path: string, produce: (cur: KubeObject) => unknown): KubeObject {
      const r = route(path);
      const cur = current(r);
      const next = store.prepareUpdate(r.kind, cur, produce(cur), { subresource: r.subresource, urlName: r.name ?? '', urlNamespace: r.namespace });
      return store.commitUpdate(r.kind, cur, next).object;
    },
    patch(path: string, body: unknown, type: 'merge' | 'json'): KubeObject {
      return ops.update(path, (cur) => {
        try {
          return type === 'merge' ? applyMergePatch(cur, body) : applyJsonPatch(cur, body);
        } catch (e) {
          if (e instanceof PatchError) throw e.code === 400 ? badRequest(e.message) : failure(422, 'Invalid', e.message);
          throw e;
        }
      });
    },
    delete(path: string, options: DeleteOptions = {}): KubeObject {
      const r = route(path);
      const cur = current(r);
      if (r.kind === nsKind) return store.deleteNamespace(nsKind, cur, options).object;
      return store.commitDelete(r.kind, store.prepareDelete(r.kind, cur, options)).object;
    },
  };

  const wire = <T>(v: unknown): T => JSON.parse(JSON.stringify(v)) as T;
  const asKubeError = (e: unknown, verb: string, path: string): unknown => {
    if (!(e instanceof ApiError)) return e;
    if (e.status.code === 409) stats.conflicts++;
    return new KubeApiError(e.status.code, e.status.reason ?? 'Unknown', `${verb} ${path}: ${e.status.message ?? ''}`);
  };

  function connect(owner: string, faults: LinkFaults): SimConnection {
    const link = opts.rng.fork(`link:${owner}`);
    let dead = false;
    const latency = () => link.between(faults.latencyMs[0], faults.latencyMs[1]);
    const watches = new Set<OpenWatch>();

    function call<T>(verb: string, path: string, run: () => unknown): Promise<T> {
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
            let outcome: { ok: true; value: T } | { ok: false; err: unknown };
            const applies = fault !== 'timeout' || link.chance(0.5);
            if (applies) {
              try {
                outcome = { ok: true, value: wire<T>(run()) };
              } catch (e) {
                outcome = { ok: false, err: asKubeError(e, verb, path) };
              }
            } else outcome = { ok: false, err: undefined };
            if (fault === 'timeout') {
              stats.injectedTimeouts++;
              return answer(() => reject(new KubeApiError(504, 'Timeout', `${verb} ${path}: no answer within ${faults.timeoutMs} ms`)), faults.timeoutMs);
            }
            const slow = faults.slowRate > 0 && link.chance(faults.slowRate) ? link.int(faults.slowMs + 1) : 0;
            answer(() => (outcome.ok ? resolve(outcome.value) : reject(outcome.err)), latency() + slow);
          },
          owner,
        );
      });
    }

    const rest: SimConnection = {
      get: <T>(path: string) => call<T>('get', path, () => ops.get(path)),
      list: <T>(path: string, query?: Query) => call<KubeList<T>>('list', path, () => ops.list(path, query)),
      create: <T>(path: string, body: unknown) => call<T>('create', path, () => ops.create(path, body)),
      replace: <T>(path: string, body: unknown) => call<T>('replace', path, () => ops.update(path, () => structuredClone(body))),
      patch: <T>(path: string, body: unknown, type: 'merge' | 'json' = 'merge') => call<T>('patch', path, () => ops.patch(path, body, type)),
      delete: <T>(path: string, options?: DeleteOptions) => call<T>('delete', path, () => ops.delete(path, options)),
      watch<T>(path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void> {
        return new Promise<void>((resolve, reject) => {
          if (dead) return;
          stats.requests++;
          let watcher: Watcher | undefined;
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
            if (watcher) store.unwatch(watcher);
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
          sched.after(
            latency(),
            () => {
              if (closed || dead) return;
              let r: Route;
              let filter: Filter;
              try {
                r = route(path);
                filter = filterOf(r, query);
              } catch (e) {
                closed = true;
                return void sched.after(latency(), () => dead || reject(asKubeError(e, 'WATCH', path)), owner);
              }
              const rvParam = String(query['resourceVersion'] ?? '');
              sink = {
                write(line: string) {
                  if (closed) return;
                  let at = sched.now + latency();
                  if (faults.watchDelayRate > 0 && link.chance(faults.watchDelayRate)) at += link.int(faults.watchDelayMs + 1);
                  lastDelivery = Math.max(lastDelivery, at);
                  sched.at(lastDelivery, () => {
                    if (closed || dead) return;
                    const event = JSON.parse(line) as WatchEvent<T> & { object: { code?: number; reason?: string; message?: string } };
                    if (event.type === 'ERROR') {
                      stop();
                      return reject(new KubeApiError(event.object.code ?? 500, event.object.reason ?? 'Unknown', `WATCH ${path}: ${event.object.message ?? ''}`));
                    }
                    stats.watchEvents++;
                    onEvent(event);
                  }, owner);
                },
              };
              const watchOpts: { sinceRv?: number; bookmarks: boolean } = { bookmarks: false };
              if (rvParam !== '' && rvParam !== '0') watchOpts.sinceRv = Number(rvParam);
              watcher = store.watch(r.kind, filter, sink, watchOpts);
              if (!watcher) return; // The ERROR line is on its way and closes the stream.
              watches.add(handle);
              openWatches.add(handle);
              const timeout = Number(query['timeoutSeconds'] ?? 0);
              if (timeout > 0) stopTimeout = sched.after(timeout * 1000, () => handle.close(false), owner);
            },
            owner,
          );
        });
      },
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
          return ops.get(path) as T;
        } catch (e) {
          if (e instanceof ApiError && e.status.code === 404) return undefined;
          throw e;
        }
      },
      list: <T>(path: string, query?: Query) => ops.list(path, query).items as T[],
      create: <T>(path: string, body: unknown) => ops.create(path, body) as T,
      patch: <T>(path: string, body: unknown) => ops.patch(path, body, 'merge') as T,
      delete: (path, options) => void ops.delete(path, options),
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
