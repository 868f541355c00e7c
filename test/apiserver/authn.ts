// Bearer tokens with a lifetime, for tests of how tidepool keeps its
// credentials fresh: tokens minted with a lifetime (as a projected
// service-account token or an exec plugin's are), expiry by the real clock,
// revocation. The router's authentication stage does the rest (anonymous
// without a header, the real server's 401 for a refused token).
import { randomBytes } from 'node:crypto';
import { bearerTokens, type Authenticator, type UserInfo } from '../../src/apiserver/authentication.ts';

export interface TokenAuthority {
  /** A new token valid for `lifetimeMs` from now. */
  mint(lifetimeMs: number): string;
  /** Ends a token's validity now. */
  revoke(token: string): void;
  /** Accepts the tokens this authority knows and has not expired, as `user`. */
  readonly authenticator: Authenticator;
}

/** `permanent` is always accepted: the admin token of the server's own kubeconfig. */
export function createTokenAuthority(permanent: string, user: UserInfo): TokenAuthority {
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
    authenticator: bearerTokens((token) => ((expiries.get(token) ?? 0) > Date.now() ? user : undefined)),
  };
}
