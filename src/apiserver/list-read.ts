// Which state a list (or a get with a resourceVersion) is served from, as
// the real server decides (cacher/delegator.go, the documented "semantics
// for get and list"):
//
//   resourceVersion ""        the latest state (a consistent read); limit and continue page it
//   "0"                       the watch cache's state, however far it lags; limit is ignored
//   N                         the cache's state once it has reached N (waiting up to the block timeout)
//   N, limit > 0              exactly N, from storage (the legacy exact match)
//   N, match=Exact            exactly N, from storage
//   N, match=NotOlderThan     as "N"; limit is honoured
//   continue=<token>          the token's revision, from storage (410 once compacted)
//
// Storage here is the store's history (etcd's compaction window).
import { then, type Awaitable } from './awaitable.ts';
import type { ListOptions } from './list-options.ts';
import { badRequest, expired, tooLargeResourceVersion, type ApiError } from './status.ts';
import type { Store } from './store.ts';
import type { WatchCache } from './watch-cache.ts';

/** A page's start: the revision to read at (latest when unset), the key to continue after, the limit. */
export interface ListRead {
  readonly atRv?: number;
  readonly startAfter?: string;
  readonly limit?: number;
}

export const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

export function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64');
}

function decodeContinue(token: string): { rv: number; start: string } {
  let parsed: { v?: unknown; rv?: unknown; start?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as typeof parsed;
  } catch {
    throw badRequest('continue key is not valid: illegal base64 data');
  }
  if (parsed.v !== 'meta.k8s.io/v1' || typeof parsed.rv !== 'number' || typeof parsed.start !== 'string') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  return { rv: parsed.rv, start: parsed.start };
}

/** A continue token past the compaction window: 410 with a token that continues at the latest state. */
function continueExpired(start: string): ApiError {
  const err = expired(CONTINUE_EXPIRED);
  (err.status as { metadata: Record<string, unknown> }).metadata = { continue: encodeContinue(-1, start) };
  return err;
}

function fromContinue(store: Store, o: ListOptions): ListRead {
  if (o.resourceVersion) throw badRequest('specifying resource version is not allowed when using continue');
  const { rv, start } = decodeContinue(o.continueToken);
  // An inconsistent continuation (rv -1) reads the latest state.
  if (rv < 0) return { startAfter: start, limit: o.limit };
  if (rv <= store.compactedRevision) throw continueExpired(start);
  return { atRv: rv, startAfter: start, limit: o.limit };
}

function exact(store: Store, rv: number, limit: number | undefined): ListRead {
  if (rv > store.resourceVersion) throw tooLargeResourceVersion(rv, store.resourceVersion, 0);
  if (rv <= store.compactedRevision) throw expired('The resourceVersion for the provided list is too old.');
  return { atRv: rv, limit };
}

export function resolveListRead(store: Store, cache: WatchCache, o: ListOptions): Awaitable<ListRead> {
  if (o.continueToken) return fromContinue(store, o);
  const rv = o.resourceVersion;
  const limit = o.limit && o.limit > 0 ? o.limit : undefined;
  if (rv === '') return { limit };
  if (rv === '0') return { atRv: cache.resourceVersion };
  const n = Number(rv);
  if (o.resourceVersionMatch === 'Exact' || (o.resourceVersionMatch === '' && limit !== undefined)) return exact(store, n, limit);
  return then(cache.waitFresh(n), (at) => ({ atRv: at, limit }));
}

/** A get's revision: latest for "", the cache's for "0", the cache's once at N otherwise. */
export function resolveGetRead(cache: WatchCache, rv: string): Awaitable<number | undefined> {
  if (rv === '') return undefined;
  if (rv === '0') return cache.resourceVersion;
  return cache.waitFresh(Number(rv));
}
