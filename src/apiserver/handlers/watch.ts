// watch: a stream of events from now, or replayed from a resourceVersion,
// served by the watch cache (watch-cache.ts). The transport owns the wire.
import { queryBool } from '../params.ts';
import { parseCount, parseFilter, parseRv } from '../query.ts';
import type { WatchResponse, WatchSink } from '../request.ts';
import type { HandlerContext } from './context.ts';

const WATCH_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' };

export function watch(ctx: HandlerContext): WatchResponse {
  const { store, req } = ctx;
  const { kind, namespace, name } = ctx.target;
  const filter = parseFilter(store, kind, namespace, req.query);
  if (name !== undefined) filter.fields = [...filter.fields, { field: 'metadata.name', op: '=', value: name }];
  const rvParam = req.query.get('resourceVersion') ?? '';
  const sinceRv = rvParam === '' || rvParam === '0' ? undefined : parseRv(rvParam);
  const timeoutSeconds = parseCount(req.query, 'timeoutSeconds');
  const bookmarks = queryBool(req.query, 'allowWatchBookmarks') === true;
  return {
    kind: 'watch',
    status: 200,
    headers: WATCH_HEADERS,
    timeoutMs: timeoutSeconds ? timeoutSeconds * 1000 : undefined,
    start: (sink: WatchSink) => ctx.watchCache.open(kind, filter, sink, sinceRv === undefined ? { bookmarks } : { sinceRv, bookmarks }),
  };
}
