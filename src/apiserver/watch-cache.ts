// Where watches are served from. Today the store's own history is the watch
// cache: a watch from a resourceVersion replays it, one older than it gets
// 410 Expired, one newer than the store fails at once with 504. A cache with
// the real server's timing (waiting for a newer resourceVersion, lagging
// behind the store, initial-events bookmarks) is another WatchCache.
import type { WatchSink, WatchStream } from './request.ts';
import { tooLargeResourceVersion } from './status.ts';
import type { Filter, KindState, Store } from './store.ts';

export interface WatchCache {
  /**
   * Starts a watch: initial or replayed events are written to `sink` at once.
   * Undefined when the stream ended there (an ERROR event was written).
   */
  open(kind: KindState, filter: Filter, sink: WatchSink, opts: { sinceRv?: number; bookmarks: boolean }): WatchStream | undefined;
  /** Sends a BOOKMARK at the current resourceVersion to every open watch that allows them; returns how many. */
  sendBookmarks(): number;
}

export function storeWatchCache(store: Store): WatchCache {
  return {
    open(kind, filter, sink, opts) {
      if (opts.sinceRv !== undefined && opts.sinceRv > store.resourceVersion) {
        // The real watch cache waits about 3 s for the resourceVersion first.
        sink.write(JSON.stringify({ type: 'ERROR', object: tooLargeResourceVersion(opts.sinceRv, store.resourceVersion).status }) + '\n');
        return undefined;
      }
      const watcher = store.watch(kind, filter, sink, opts);
      return watcher && { stop: () => store.unwatch(watcher) };
    },
    sendBookmarks() {
      let n = 0;
      for (const kind of store.kinds.values()) {
        for (const w of kind.watchers) {
          if (!w.bookmarks) continue;
          store.bookmark(w);
          n++;
        }
      }
      return n;
    },
  };
}
