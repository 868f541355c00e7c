// Injected faults, a router filter: matching requests fail with a Status,
// stall, hang, break their connection, or are answered as a lagging API
// server replica would answer them. They act after authentication, as a
// misbehaving server (not a proxy in front of it) would.
import type { Awaitable } from '../../src/apiserver/awaitable.ts';
import type { ApiResult } from '../../src/apiserver/request.ts';
import type { Filter, RequestContext } from '../../src/apiserver/router.ts';
import { resourceKey, type Verb } from '../../src/apiserver/request-info.ts';
import { failure, reasonForCode, tooLargeResourceVersion } from '../../src/apiserver/status.ts';
import { parseRv } from '../../src/apiserver/query.ts';
import { isControllerUser } from '../../src/apiserver/controllers/client.ts';

/** Makes matching requests fail, stall or hang; see FakeApiServer.injectFault. */
export interface FaultSpec {
  verb?: Verb;
  /** Plural resource (`pods`), optionally with subresource (`pods/status`); plain plural matches its subresources too. */
  resource?: string;
  name?: string | RegExp;
  /** How many matching requests are affected; default unlimited. */
  times?: number;
  /** Reply with a Status of this code instead of serving the request. */
  status?: number;
  /** Message of that Status; default "injected fault". */
  message?: string;
  /** Wait this long before serving (or failing) the request. */
  delayMs?: number;
  /** Never answer; the connection is only released by close() or the client. */
  hang?: boolean;
  /** Break the connection without an answer, as a proxy or a restarting API server does; the request is not applied. */
  reset?: boolean;
  /**
   * Answer as an API server replica whose watch cache has not yet reached the
   * requested resourceVersion (one lagging behind the replica that served the
   * client's list): a watch gets one ERROR event and a list HTTP 504, both a
   * Timeout Status with cause ResourceVersionTooLarge and retryAfterSeconds 1.
   * Matches only watches and lists that carry a resourceVersion other than
   * "" and "0"; consistent reads are served from etcd even by a lagging replica.
   */
  tooLargeResourceVersion?: boolean;
}

/** An injected fault; `hits` counts the requests it affected. */
export interface FaultHandle {
  readonly hits: number;
  remove(): void;
}

interface ActiveFault {
  spec: FaultSpec;
  remaining: number;
  hits: number;
}

/** The injected faults of one server, and the filter that applies them. */
export interface Faults {
  inject(spec: FaultSpec): FaultHandle;
  clear(): void;
  readonly filter: Filter;
}

function matches(s: FaultSpec, ctx: RequestContext): boolean {
  const { info, target, req } = ctx;
  // Faults model what tidepool's clients meet, not the server's own controllers.
  if (!target || isControllerUser(ctx.user)) return false;
  const rv = req.query.get('resourceVersion') ?? '';
  if (s.tooLargeResourceVersion && ((info.verb !== 'watch' && info.verb !== 'list') || rv === '' || rv === '0')) return false;
  if (s.verb !== undefined && s.verb !== info.verb) return false;
  if (s.resource !== undefined && s.resource !== resourceKey(info) && s.resource !== target.kind.spec.plural) return false;
  if (s.name === undefined) return true;
  const n = target.name ?? '';
  return typeof s.name === 'string' ? s.name === n : s.name.test(n);
}

/** What a matched fault answers instead of (or before) serving the request. */
function faultAnswer(s: FaultSpec, ctx: RequestContext, serve: () => Awaitable<ApiResult>): Awaitable<ApiResult> {
  const { info, target, req } = ctx;
  if (s.tooLargeResourceVersion) {
    const requested = parseRv(req.query.get('resourceVersion') ?? '');
    const status = tooLargeResourceVersion(requested, requested - 1);
    if (info.verb === 'list') throw status;
    const line = JSON.stringify({ type: 'ERROR', object: status.status }) + '\n';
    return { kind: 'watch', status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache, private' }, timeoutMs: undefined, start: (sink) => void sink.write(line) };
  }
  if (s.reset) return { kind: 'no-answer', how: 'reset' };
  if (s.hang) return { kind: 'no-answer', how: 'hang' };
  if (s.status !== undefined) {
    const spec = target!.kind.spec;
    const details = target!.name !== undefined ? { name: target!.name, ...(spec.group ? { group: spec.group } : {}), kind: spec.plural } : undefined;
    throw failure(s.status, reasonForCode(s.status), s.message ?? 'injected fault', details);
  }
  return serve();
}

export function createFaults(): Faults {
  const faults = new Set<ActiveFault>();

  function take(ctx: RequestContext): FaultSpec | undefined {
    for (const f of faults) {
      if (f.remaining <= 0 || !matches(f.spec, ctx)) continue;
      f.remaining--;
      f.hits++;
      if (f.remaining <= 0) faults.delete(f);
      return f.spec;
    }
    return undefined;
  }

  return {
    inject(spec) {
      const f: ActiveFault = { spec, remaining: spec.times ?? Infinity, hits: 0 };
      faults.add(f);
      return {
        get hits() {
          return f.hits;
        },
        remove: () => void faults.delete(f),
      };
    },
    clear: () => faults.clear(),
    filter(ctx, next) {
      const s = take(ctx);
      if (!s) return next();
      if (!s.delayMs) return faultAnswer(s, ctx, next);
      return new Promise<void>((resolve) => setTimeout(resolve, s.delayMs)).then(() => faultAnswer(s, ctx, next));
    },
  };
}
