// Bearer-token authentication as the real API server applies it, for tests of
// how tidepool keeps its credentials fresh: tokens minted with a lifetime (as
// a projected service-account token or an exec plugin's are), expiry by the
// real clock, and the real server's answers to what it does not accept.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { StatusObject } from '../../src/apiserver/status.ts';
import { failure } from '../../src/apiserver/status.ts';

/** Paths every client may read, even unauthenticated (the real server's system:public-info-viewer role). */
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);

export interface TokenAuthority {
  /** A new token valid for `lifetimeMs` from now. */
  mint(lifetimeMs: number): string;
  /** Ends a token's validity now. */
  revoke(token: string): void;
  /** Why `req` is refused, or undefined when it may proceed; `resource` is set for resource requests. */
  check(req: IncomingMessage, path: string, resource: ResourceRequest | undefined): StatusObject | undefined;
}

/** A resource request, as a 403 names it. */
export interface ResourceRequest {
  readonly verb: string;
  /** Plural, with `/subresource` if any. */
  readonly resource: string;
  readonly group: string;
  readonly namespace: string | undefined;
}

function forbidden(path: string, r: ResourceRequest | undefined): StatusObject {
  const user = 'User "system:anonymous"';
  if (!r) return failure(403, 'Forbidden', `forbidden: ${user} cannot get path "${path}"`).status;
  const scope = r.namespace !== undefined ? `in the namespace "${r.namespace}"` : 'at the cluster scope';
  const qualified = r.group ? `${r.resource}.${r.group}` : r.resource;
  return failure(403, 'Forbidden', `${qualified} is forbidden: ${user} cannot ${r.verb} resource "${r.resource}" in API group "${r.group}" ${scope}`).status;
}

/** `permanent` is always accepted: the admin token of the server's own kubeconfig. */
export function createTokenAuthority(permanent: string): TokenAuthority {
  const expiries = new Map<string, number>([[permanent, Number.POSITIVE_INFINITY]]);
  return {
    mint(lifetimeMs) {
      const token = `tidepool-fake.${randomBytes(12).toString('hex')}`;
      expiries.set(token, Date.now() + lifetimeMs);
      return token;
    },
    revoke(token) {
      if (expiries.has(token)) expiries.set(token, 0);
    },
    check(req, path, resource) {
      const header = req.headers.authorization;
      if (header === undefined) {
        // No credentials: the request runs as system:anonymous, which may read nothing else.
        return PUBLIC_PATHS.has(path) ? undefined : forbidden(path, resource);
      }
      const m = /^Bearer (\S+)$/i.exec(header);
      const expiry = m ? expiries.get(m[1]!) : undefined;
      // The real server gives an unknown, expired or malformed credential the same bare 401, on every path.
      if (expiry === undefined || expiry <= Date.now()) return failure(401, 'Unauthorized', 'Unauthorized').status;
      return undefined;
    },
  };
}
