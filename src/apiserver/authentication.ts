// The pipeline's authentication stage: who sent a request. A request that
// carries no credentials is system:anonymous (authorization then decides
// what anonymous may do); one whose credentials are refused gets the real
// server's bare 401, on every path.
import type { Awaitable } from './awaitable.ts';
import type { ApiRequest } from './request.ts';
import { failure, type ApiError } from './status.ts';

/** user.Info as webhooks and authorizers see it. */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
}

export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

/**
 * Decides who sent `req`: a user, ANONYMOUS when it carried no credentials,
 * or undefined when its credentials are not accepted (the router answers 401).
 * Requests whose transport vouches for a user (`ApiRequest.user`) skip it.
 */
export type Authenticator = (req: ApiRequest) => Awaitable<UserInfo | undefined>;

/** Every request is `user`, whatever it carries: a server without authentication. */
export function fixedUser(user: UserInfo): Authenticator {
  return () => user;
}

/** `Authorization: Bearer <token>`, looked up by `userOf` (undefined: not a valid token); no header is anonymous. */
export function bearerTokens(userOf: (token: string) => UserInfo | undefined): Authenticator {
  return (req) => {
    if (req.authorization === undefined) return ANONYMOUS;
    const m = /^Bearer (\S+)$/i.exec(req.authorization);
    return m ? userOf(m[1]!) : undefined;
  };
}

/** The real server's answer to credentials it does not accept. */
export const unauthorized = (): ApiError => failure(401, 'Unauthorized', 'Unauthorized');
