// Request and reply counters, for asserting how tidepool's code used the
// API: requests by verb and resource (counted by a router filter, so
// requests refused by authentication or authorization are not), replies by
// HTTP code, and 409 replies by reason and resource (counted as the HTTP
// front sends them).
import type { ApiRequest } from '../../src/apiserver/request.ts';
import { parseRequestInfo, resourceKey, type Verb } from '../../src/apiserver/request-info.ts';
import type { Filter } from '../../src/apiserver/router.ts';
import { isControllerUser } from '../../src/apiserver/controllers/client.ts';

/** Request and conflict counters, for asserting how tidepool's code used the API. */
export interface ServerStats {
  total: number;
  /** verb → resource (`pods`, `ippools/status`) → count. */
  requests: Partial<Record<Verb, Record<string, number>>>;
  /** HTTP status code → count of replies. */
  responses: Record<string, number>;
  /** resource → 409 replies with reason Conflict. */
  conflicts: Record<string, number>;
  /** resource → 409 replies with reason AlreadyExists. */
  alreadyExists: Record<string, number>;
}

export interface StatsRecorder {
  readonly filter: Filter;
  reply(req: ApiRequest, status: number, body: unknown): void;
  snapshot(): ServerStats;
  reset(): void;
}

const emptyStats = (): ServerStats => ({ total: 0, requests: {}, responses: {}, conflicts: {}, alreadyExists: {} });

const bump = (rec: Record<string, number>, key: string): void => {
  rec[key] = (rec[key] ?? 0) + 1;
};

export function createStats(): StatsRecorder {
  let stats = emptyStats();
  return {
    filter(ctx, next) {
      // The server's own controllers are not tidepool's code.
      if (ctx.target && !isControllerUser(ctx.user)) {
        stats.total++;
        const verb = ctx.info.verb as Verb | undefined;
        if (verb) bump((stats.requests[verb] ??= {}), resourceKey(ctx.info));
      }
      return next();
    },
    reply(req, status, body) {
      bump(stats.responses, String(status));
      if (status !== 409) return;
      const info = parseRequestInfo(req.method, req.path, req.query);
      if (!info.isResourceRequest) return;
      const reason = (body as { reason?: string } | undefined)?.reason;
      if (reason === 'Conflict') bump(stats.conflicts, resourceKey(info));
      if (reason === 'AlreadyExists') bump(stats.alreadyExists, resourceKey(info));
    },
    snapshot: () => structuredClone(stats),
    reset() {
      stats = emptyStats();
    },
  };
}
