// watch: a stream of events served by the watch cache (watch-cache.ts), from
// its current state, from a resourceVersion, or as a watch-list
// (sendInitialEvents). The transport owns the wire and ends the stream at
// the timeout.
import { then, type Awaitable } from '../awaitable.ts';
import { parseListOptions } from '../list-options.ts';
import { parseFilter } from '../query.ts';
import type { WatchResponse } from '../request.ts';
import type { HandlerContext } from './context.ts';

const WATCH_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' };

export function watch(ctx: HandlerContext): Awaitable<WatchResponse> {
  const { store, req, watchCache } = ctx;
  const { kind, namespace, name } = ctx.target;
  const filter = parseFilter(store, kind, namespace, req.query);
  if (name !== undefined) filter.fields = [...filter.fields, { field: 'metadata.name', op: '=', value: name }];
  const o = parseListOptions(req.query, true);
  const timeoutMs = watchCache.watchTimeoutMs(o.timeoutSeconds);
  const request = { rv: o.resourceVersion, bookmarks: o.allowWatchBookmarks, timeoutMs, ...(o.sendInitialEvents === undefined ? {} : { sendInitialEvents: o.sendInitialEvents }) };
  return then(watchCache.prepare(kind, filter, request), (prepared) => ({ kind: 'watch', status: 200, headers: WATCH_HEADERS, timeoutMs, start: (sink) => prepared.start(sink) }));
}
