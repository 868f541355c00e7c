// A log of what authorization decided for every user but the administrator
// (system:masters): the distinct requests it allowed, and the 403 messages
// of those it refused. A test can then prove that no request of a tidepool
// process met a 403 from RBAC, even one tidepool logged and carried on from
// (an Event it could not post), and which of the chart's rules the traffic
// needed. It wraps the authorizer, so a 403 a test injects as a fault is not
// in it, and it is kept apart from the stats, which tests reset.
import type { AuthorizationAttributes, Authorizer } from '../../src/apiserver/authorization.ts';
import { forbiddenError } from '../../src/apiserver/authorization.ts';
import { then } from '../../src/apiserver/awaitable.ts';
import { PRIVILEGED_GROUP } from '../../src/apiserver/rbac/authorizer.ts';

const MAX_DENIALS = 1000;

export interface AuthorizationLog {
  /** `authorizer`, recording its decisions. */
  wrap(authorizer: Authorizer): Authorizer;
  /** The messages of refused requests so far (`pods is forbidden: User "x" cannot list ...`), oldest first, at most 1,000. */
  denials(): string[];
  /** Returns the refusals so far and forgets them. */
  takeDenials(): string[];
  /** Every distinct allowed request so far (user, verb, resource or path, namespace, name). */
  allowed(): AuthorizationAttributes[];
}

/** One line per distinct request as authorization sees it. */
function signature(a: AuthorizationAttributes): string {
  const { info } = a;
  const what = info.isResourceRequest ? `${info.apiGroup}/${info.resource}/${info.subresource ?? ''} ${info.namespace ?? ''}/${a.name ?? ''}` : info.path;
  return `${a.user.username} ${String(info.verb)} ${what}`;
}

export function createAuthorizationLog(): AuthorizationLog {
  let denials: string[] = [];
  const allowed = new Map<string, AuthorizationAttributes>();
  return {
    wrap: (authorizer) => (a) =>
      then(authorizer(a), (d) => {
        if (a.user.groups.includes(PRIVILEGED_GROUP)) return d;
        if (!d.allowed && denials.length < MAX_DENIALS) denials.push(forbiddenError(a, d.reason).status.message ?? '');
        if (d.allowed) allowed.set(signature(a), { user: a.user, info: a.info, name: a.name });
        return d;
      }),
    denials: () => [...denials],
    takeDenials() {
      const out = denials;
      denials = [];
      return out;
    },
    allowed: () => [...allowed.values()],
  };
}
