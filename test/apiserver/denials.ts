// A log of the requests authorization refused, so a test can prove that no
// request of a tidepool process met a 403 from RBAC, even one that
// tidepool's code logged and carried on from (an Event it could not post).
// It wraps the authorizer, so a 403 a test injects as a fault is not in it,
// and it is kept apart from the stats, which tests reset.
import type { Authorizer } from '../../src/apiserver/authorization.ts';
import { forbiddenError } from '../../src/apiserver/authorization.ts';
import { then } from '../../src/apiserver/awaitable.ts';

const MAX = 1000;

export interface DenialLog {
  /** `authorizer`, recording the 403 message of every request it refuses. */
  wrap(authorizer: Authorizer): Authorizer;
  /** The messages so far (`pods is forbidden: User "x" cannot list ...`), oldest first, at most 1,000. */
  list(): string[];
  /** Returns the messages so far and forgets them. */
  take(): string[];
}

export function createDenialLog(): DenialLog {
  let messages: string[] = [];
  return {
    wrap: (authorizer) => (a) =>
      then(authorizer(a), (d) => {
        if (!d.allowed && messages.length < MAX) messages.push(forbiddenError(a, d.reason).status.message ?? '');
        return d;
      }),
    list: () => [...messages],
    take() {
      const out = messages;
      messages = [];
      return out;
    },
  };
}
