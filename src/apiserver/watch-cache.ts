// Where watches are served from, as the real server's watch cache (the
// cacher) serves them: it follows the store's commits after a lag (the
// journey from etcd through the apiserver's reflector), so an event reaches
// watchers after the write's response has gone out, and reads "from the
// cache" (resourceVersion "0", or not older than N) see a state up to that
// lag old. Per resource it keeps a window of past events (watch-history.ts);
// a watch from before the window gets 410 Expired. Watches that allow
// bookmarks get one about every minute and two seconds before their
// timeout; a watch asking for initial events gets them, then a bookmark
// marking their end. Reads that need a revision the cache has not reached
// wait for it (3 s in the real server) and then fail with "Too large
// resource version".
import { then, type Awaitable } from './awaitable.ts';
import { apiVersionOf } from './kinds.ts';
import type { WatchSink, WatchStream } from './request.ts';
import { expired, tooLargeResourceVersion } from './status.ts';
import { deliver, type Filter, type HistoryEvent, type KindState, type Store, type Watcher } from './store.ts';
import type { Timers } from './timers.ts';
import { DEFAULT_HISTORY_SIZING, WatchHistory, type HistorySizing } from './watch-history.ts';

export interface WatchCacheOptions {
  readonly timers: Timers;
  /** How long after a commit the cache has it (ms), drawn per commit; events keep their order. */
  readonly lag: () => number;
  /** How long a read waits for the cache to reach its resourceVersion; the real server's 3 s. */
  readonly blockTimeoutMs?: number;
  /** Period of bookmarks to watches that allow them; the real server's 1 min. */
  readonly bookmarkIntervalMs?: number;
  readonly history?: HistorySizing;
  /** An integer in [0, n), for the timeout of watches that ask for none; default Math.random's. */
  readonly randomInt?: (n: number) => number;
}

/** What a watch asks for, from its query. */
export interface WatchRequest {
  /** `resourceVersion` as sent: "" (unset), "0" (any) or a revision. */
  readonly rv: string;
  readonly sendInitialEvents?: boolean;
  readonly bookmarks: boolean;
  /** When the server will end the stream, so the last bookmark can precede it. */
  readonly timeoutMs: number;
}

/** A watch that is ready to stream: `start` writes what it owes at once and then follows the cache. */
export interface PreparedWatch {
  start(sink: WatchSink): WatchStream | undefined;
}

export interface WatchCache {
  /** Prepares a watch; waits only when initial events are asked for at a revision the cache has not reached. */
  prepare(kind: KindState, filter: Filter, req: WatchRequest): Awaitable<PreparedWatch>;
  /** The revision the cache has reached. */
  readonly resourceVersion: number;
  /** Resolves once the cache has reached `rv`; after the block timeout, 504 "Too large resource version". */
  waitFresh(rv: number): Awaitable<number>;
  /** The timeout of a watch that asked for `seconds` (none: 30 to 60 min, as the real server picks). */
  watchTimeoutMs(seconds: number | undefined): number;
  /** Sends a BOOKMARK now to every open watch that allows them; returns how many. */
  sendBookmarks(): number;
  /** Every event as the cache processes it, in order (the controllers' informers). */
  onEvent(listener: (e: HistoryEvent) => void): () => void;
  /** Open watches. */
  readonly watchCount: number;
  stop(): void;
}

interface CacheWatcher extends Watcher {
  /** Events at or before this revision are not sent (the watch's starting point). */
  sinceRv: number;
  readonly deadline: number;
  cancelBookmark: () => void;
  stopped: boolean;
}

const MIN_REQUEST_TIMEOUT_MS = 1_800_000;

export function createWatchCache(store: Store, opts: WatchCacheOptions): WatchCache {
  const { timers } = opts;
  const blockTimeoutMs = opts.blockTimeoutMs ?? 3_000;
  const bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000;
  const sizing = opts.history ?? DEFAULT_HISTORY_SIZING;
  const randomInt = opts.randomInt ?? ((n: number) => Math.floor(Math.random() * n));
  const histories = new Map<KindState, WatchHistory>();
  const watchers = new Map<KindState, Set<CacheWatcher>>();
  const listeners = new Set<(e: HistoryEvent) => void>();
  const waiters = new Set<{ rv: number; resolve: (rv: number) => void }>();
  const queue: { e: HistoryEvent; due: number }[] = [];
  let cacheRv = store.resourceVersion;
  let lastDue = 0;
  let cancelTimer: (() => void) | undefined;
  let stopped = false;

  // The cache starts from the store's retained history, so watches from any retained revision work.
  const startRv = store.compactedRevision;
  for (const e of store.historySince(startRv)) historyOf(e.kind).add(e, timers.now());

  function historyOf(kind: KindState): WatchHistory {
    let h = histories.get(kind);
    if (!h) histories.set(kind, (h = new WatchHistory(sizing, startRv)));
    return h;
  }

  function watchersOf(kind: KindState): Set<CacheWatcher> {
    let set = watchers.get(kind);
    if (!set) watchers.set(kind, (set = new Set()));
    return set;
  }

  const unsubscribe = store.subscribe((e) => {
    const due = Math.max(lastDue, timers.now() + Math.max(0, opts.lag()));
    lastDue = due;
    queue.push({ e, due });
    if (!cancelTimer) arm();
  });

  function arm(): void {
    const head = queue[0];
    if (!head || stopped) return;
    cancelTimer = timers.after(head.due - timers.now(), () => {
      cancelTimer = undefined;
      const now = timers.now();
      let n = 0;
      while (n < queue.length && queue[n]!.due <= now) n++;
      for (const { e } of queue.splice(0, n)) process(e, now);
      arm();
    });
  }

  function process(e: HistoryEvent, now: number): void {
    historyOf(e.kind).add(e, now);
    cacheRv = e.rv;
    for (const w of watchersOf(e.kind)) if (e.rv > w.sinceRv) deliver(w, e);
    for (const w of [...waiters]) if (w.rv <= cacheRv) {
      waiters.delete(w);
      w.resolve(cacheRv);
    }
    for (const l of listeners) l(e);
  }

  function waitFresh(rv: number): Awaitable<number> {
    if (rv <= cacheRv) return cacheRv;
    return new Promise<number>((resolve, reject) => {
      const waiter = { rv, resolve: (at: number) => (cancel(), resolve(at)) };
      const cancel = timers.after(blockTimeoutMs, () => {
        waiters.delete(waiter);
        reject(tooLargeResourceVersion(rv, cacheRv));
      });
      waiters.add(waiter);
    });
  }

  function bookmarkLine(w: CacheWatcher, annotations?: Record<string, string>): string {
    const spec = w.kind.spec;
    const metadata: Record<string, unknown> = { resourceVersion: String(cacheRv) };
    if (annotations) metadata['annotations'] = annotations;
    return JSON.stringify({ type: 'BOOKMARK', object: { kind: spec.kind, apiVersion: apiVersionOf(spec), metadata } }) + '\n';
  }

  function bookmark(w: CacheWatcher): boolean {
    // A bookmark never goes back before the watch's own starting point.
    if (w.stopped || cacheRv < w.sinceRv) return false;
    w.sink.write(bookmarkLine(w));
    return true;
  }

  /** The next periodic bookmark: a minute on, but no later than two seconds before the watch ends. */
  function scheduleBookmark(w: CacheWatcher): void {
    const now = timers.now();
    let at = now + bookmarkIntervalMs;
    if (w.deadline - 2_000 < at) at = w.deadline - 2_000;
    if (at <= now) return;
    w.cancelBookmark = timers.after(at - now, () => {
      bookmark(w);
      scheduleBookmark(w);
    });
  }

  function register(w: CacheWatcher): WatchStream {
    watchersOf(w.kind).add(w);
    if (w.bookmarks) scheduleBookmark(w);
    return {
      stop() {
        w.stopped = true;
        w.cancelBookmark();
        watchersOf(w.kind).delete(w);
      },
    };
  }

  function newWatcher(kind: KindState, filter: Filter, sink: WatchSink, req: WatchRequest, sinceRv: number): CacheWatcher {
    return { kind, filter, sink, bookmarks: req.bookmarks, sinceRv, deadline: timers.now() + req.timeoutMs, cancelBookmark: () => {}, stopped: false };
  }

  /** The cache's state of `kind` as ADDED events, then (for watch-list requests) the end-of-initial-events bookmark. */
  function writeInitial(w: CacheWatcher, endBookmark: boolean): void {
    for (const obj of store.list(w.kind, w.filter, { atRv: cacheRv }).items) w.sink.write(JSON.stringify({ type: 'ADDED', object: obj }) + '\n');
    if (endBookmark) w.sink.write(bookmarkLine(w, { 'k8s.io/initial-events-end': 'true' }));
  }

  function fromState(kind: KindState, filter: Filter, req: WatchRequest, endBookmark: boolean): PreparedWatch {
    return {
      start(sink) {
        const w = newWatcher(kind, filter, sink, req, cacheRv);
        writeInitial(w, endBookmark);
        return register(w);
      },
    };
  }

  function fromRevision(kind: KindState, filter: Filter, req: WatchRequest, rv: number): PreparedWatch {
    return {
      start(sink) {
        const events = historyOf(kind).since(rv);
        if (!events) {
          const status = expired(`too old resource version: ${rv} (${historyOf(kind).oldestServable()})`).status;
          sink.write(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
          return undefined;
        }
        const w = newWatcher(kind, filter, sink, req, rv);
        for (const e of events) deliver(w, e);
        w.sinceRv = Math.max(rv, cacheRv);
        return register(w);
      },
    };
  }

  function errorWatch(err: unknown): PreparedWatch {
    const status = (err as { status?: unknown }).status;
    if (!status) throw err;
    return { start: (sink) => void sink.write(JSON.stringify({ type: 'ERROR', object: status }) + '\n') };
  }

  /** sendInitialEvents=true: the state at a revision not older than asked ("" means the latest), then the end bookmark. */
  function watchList(kind: KindState, filter: Filter, req: WatchRequest): Awaitable<PreparedWatch> {
    const required = req.rv === '' ? store.resourceVersion : Number(req.rv);
    try {
      return then(waitFresh(required), () => fromState(kind, filter, req, req.bookmarks));
    } catch (e) {
      return errorWatch(e);
    }
  }

  return {
    prepare(kind, filter, req) {
      if (req.sendInitialEvents === true) {
        const prepared = watchList(kind, filter, req);
        return prepared instanceof Promise ? prepared.catch(errorWatch) : prepared;
      }
      if (req.sendInitialEvents === false) return fromRevision(kind, filter, req, req.rv === '' || req.rv === '0' ? cacheRv : Number(req.rv));
      if (req.rv === '' || req.rv === '0') return fromState(kind, filter, req, false);
      return fromRevision(kind, filter, req, Number(req.rv));
    },
    get resourceVersion() {
      return cacheRv;
    },
    waitFresh,
    watchTimeoutMs: (seconds) => (seconds ? seconds * 1000 : MIN_REQUEST_TIMEOUT_MS + randomInt(MIN_REQUEST_TIMEOUT_MS)),
    sendBookmarks() {
      let n = 0;
      for (const set of watchers.values()) for (const w of set) if (w.bookmarks && bookmark(w)) n++;
      return n;
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get watchCount() {
      let n = 0;
      for (const set of watchers.values()) n += set.size;
      return n;
    },
    stop() {
      stopped = true;
      unsubscribe();
      cancelTimer?.();
      for (const set of watchers.values()) for (const w of set) w.cancelBookmark();
    },
  };
}
