import { KubeApiError, isTooLargeResourceVersion, type KubeObject, type KubeRest, type Query } from './rest.ts';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';
export type ChangeHandler<T> = (type: ChangeType, obj: T, old: T | undefined) => void;

/**
 * A local, eventually consistent copy of one resource (optionally filtered by
 * label and field selectors). It lists, then watches from the list's
 * resourceVersion; a watch that ends is resumed, and a failed one is resumed
 * or relisted as planWatchRetry says. A relist
 * emits the differences against the cache, so handlers see the same
 * level-based picture whether events were delivered or lost.
 */
export interface Informer<T extends KubeObject> {
  start(): void;
  stop(): Promise<void>;
  /** Resolves once the first list is in the cache. */
  waitForSync(): Promise<void>;
  readonly synced: boolean;
  list(): T[];
  /** `namespace/name` for namespaced objects, `name` otherwise. */
  get(key: string): T | undefined;
  /** Objects whose indexer (named at creation) returns `value`. */
  byIndex(index: string, value: string): T[];
  onChange(handler: ChangeHandler<T>): () => void;
  /** Applies an object the caller just wrote, so its own reads see it before the watch does. Older versions are ignored. */
  observe(obj: T): void;
  /** Drops an object the caller just deleted. */
  forget(obj: T): void;
}

export interface InformerOptions<T> {
  readonly rest: KubeRest;
  /** Collection path, e.g. `/api/v1/pods` or `/apis/tidepool.dev/v1alpha1/ipallocations`. */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly indexers?: Readonly<Record<string, (obj: T) => readonly string[]>>;
  /** Injectable sleep, so tests and the simulator control backoff time. */
  readonly delay?: (ms: number) => Promise<void>;
  /** A list or watch failed; `next` says whether the informer lists again or watches again from where it was. */
  readonly onError?: (err: unknown, next: 'relist' | 'rewatch') => void;
  /** Watch timeout the server is asked for; the watch is then resumed. */
  readonly watchTimeoutSeconds?: number;
  /**
   * Trims each object before it is cached (keep metadata.name, namespace and
   * resourceVersion): a cache of every Node needs their labels, not their
   * status and image lists.
   */
  readonly transform?: (obj: T) => T;
}

export function objectKey(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : (obj.metadata.name ?? '');
}

function rvNumber(obj: KubeObject | undefined): number {
  return Number(obj?.metadata.resourceVersion ?? -1);
}

/** Watches refused in a row at one resourceVersion before the informer lists afresh instead. */
export const MAX_REFUSED_WATCHES = 10;

/**
 * What to do after a list or watch failed (`listing`: the list failed, or is
 * still owed), the `refused`-th time in a row: list again or watch again from
 * the same resourceVersion, and how long to wait at least (0: at once).
 *
 * - 410 Gone: our resourceVersion left the server's window; relist at once.
 * - "Too large resource version" (an API server replica lagging behind the
 *   one that served the list) and 429: nothing was lost, so watch again from
 *   the same resourceVersion after the pause the server asks for, as
 *   client-go does, rather than list everything again; a lagging replica
 *   would answer the next watch the same way until it caught up. After
 *   MAX_REFUSED_WATCHES in a row, list afresh (a consistent read): the
 *   resourceVersion may never come back, e.g. after etcd was restored.
 * - Anything else: relist after the backoff.
 */
export function planWatchRetry(err: unknown, listing: boolean, refused: number): { relist: boolean; waitMs: number } {
  if (err instanceof KubeApiError && err.status === 410) return { relist: true, waitMs: 0 };
  const resumable = isTooLargeResourceVersion(err) || (err instanceof KubeApiError && err.status === 429);
  const asked = err instanceof KubeApiError ? (err.details?.retryAfterSeconds ?? 0) * 1000 : 0;
  return { relist: listing || !resumable || refused >= MAX_REFUSED_WATCHES, waitMs: Math.max(1, asked) };
}

export function createInformer<T extends KubeObject>(opts: InformerOptions<T>): Informer<T> {
  const cache = new Map<string, T>();
  const indexes = new Map<string, Map<string, Set<string>>>();
  for (const name of Object.keys(opts.indexers ?? {})) indexes.set(name, new Map());
  const handlers = new Set<ChangeHandler<T>>();
  const delay = opts.delay ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let synced = false;
  let resolveSync!: () => void;
  const syncPromise = new Promise<void>((r) => (resolveSync = r));
  let running = false;
  let abort: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let resourceVersion = '';

  function reindex(key: string, before: T | undefined, after: T | undefined): void {
    for (const [name, fn] of Object.entries(opts.indexers ?? {})) {
      const index = indexes.get(name)!;
      for (const v of before ? fn(before) : []) index.get(v)?.delete(key);
      for (const v of after ? fn(after) : []) {
        let set = index.get(v);
        if (!set) index.set(v, (set = new Set()));
        set.add(key);
      }
    }
  }

  function apply(type: ChangeType, raw: T): void {
    const obj = opts.transform ? opts.transform(raw) : raw;
    const key = objectKey(obj);
    const old = cache.get(key);
    if (type === 'DELETED') {
      if (!old) return;
      cache.delete(key);
      reindex(key, old, undefined);
    } else {
      if (old && rvNumber(old) >= rvNumber(obj)) return;
      cache.set(key, obj);
      reindex(key, old, obj);
      type = old ? 'MODIFIED' : 'ADDED';
    }
    for (const h of handlers) h(type, obj, old);
  }

  async function relist(): Promise<void> {
    const query: Query = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    const list = await opts.rest.list<T>(opts.path, query);
    const seen = new Set<string>();
    for (const item of list.items) {
      seen.add(objectKey(item));
      apply('MODIFIED', item);
    }
    for (const [key, obj] of [...cache]) if (!seen.has(key)) apply('DELETED', obj);
    resourceVersion = list.metadata.resourceVersion ?? '';
    if (!synced) {
      synced = true;
      resolveSync();
    }
  }

  async function run(): Promise<void> {
    let backoff = 100;
    let needList = true;
    let refused = 0;
    while (running) {
      try {
        if (needList) {
          await relist();
          needList = false;
          refused = 0;
        }
        abort = new AbortController();
        await opts.rest.watch<T>(
          opts.path,
          { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: opts.watchTimeoutSeconds ?? 300 },
          (event) => {
            refused = 0;
            if (event.object.metadata.resourceVersion) resourceVersion = event.object.metadata.resourceVersion;
            if (event.type === 'BOOKMARK' || event.type === 'ERROR') return;
            apply(event.type, event.object);
          },
          abort.signal,
        );
        backoff = 100;
        refused = 0;
      } catch (err) {
        if (!running) return;
        const plan = planWatchRetry(err, needList, ++refused);
        needList = plan.relist;
        if (plan.waitMs === 0) continue;
        opts.onError?.(err, needList ? 'relist' : 'rewatch');
        await delay(Math.max(backoff, plan.waitMs));
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      loop = run();
    },
    async stop() {
      running = false;
      abort?.abort();
      await loop;
    },
    waitForSync: () => syncPromise,
    get synced() {
      return synced;
    },
    list: () => [...cache.values()],
    get: (key) => cache.get(key),
    byIndex(index, value) {
      const keys = indexes.get(index)?.get(value);
      if (!keys) return [];
      const out: T[] = [];
      for (const k of keys) {
        const o = cache.get(k);
        if (o) out.push(o);
      }
      return out;
    },
    onChange(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    observe(obj) {
      apply('MODIFIED', obj);
    },
    forget(obj) {
      apply('DELETED', obj);
    },
  };
}
