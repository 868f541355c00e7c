// Bearer tokens the test server mints, each for one identity: a fixed user
// (the cluster administrator the tests play) or a ServiceAccount, whose
// tokens are accepted, as on the real server, only while that ServiceAccount
// exists with the UID it had when the token was minted. Tokens have a
// lifetime by the real clock and can be revoked, for tests of how tidepool
// keeps its credentials fresh. The router's authentication stage does the
// rest (anonymous without a header, the real server's 401 for a refused token).
import { randomBytes } from 'node:crypto';
import { bearerTokens, type Authenticator, type UserInfo } from '../../src/apiserver/authentication.ts';
import type { KubeObject } from '../../src/apiserver/kinds.ts';
import { serviceAccountUser } from '../../src/apiserver/service-accounts.ts';

/** Whom a token stands for: a user, or the ServiceAccount `namespace/name` with the UID it had at minting. */
export type TokenIdentity = { readonly user: UserInfo } | { readonly serviceAccount: { readonly namespace: string; readonly name: string; readonly uid: string } };

export interface TokenAuthority {
  /** A new token for `identity`, valid for `lifetimeMs` from now (Infinity: until revoked); `token` fixes its text. */
  mint(lifetimeMs: number, identity: TokenIdentity, token?: string): string;
  /** Ends a token's validity now. */
  revoke(token: string): void;
  /** Accepts the tokens this authority knows, has not seen expire and whose ServiceAccount still exists. */
  readonly authenticator: Authenticator;
}

/** `lookupServiceAccount` reads the stored ServiceAccount at each request. */
export function createTokenAuthority(lookupServiceAccount: (namespace: string, name: string) => KubeObject | undefined): TokenAuthority {
  const tokens = new Map<string, { expiresAt: number; identity: TokenIdentity }>();

  function userOf(token: string): UserInfo | undefined {
    const t = tokens.get(token);
    if (!t || t.expiresAt <= Date.now()) return undefined;
    if ('user' in t.identity) return t.identity.user;
    const { namespace, name, uid } = t.identity.serviceAccount;
    const sa = lookupServiceAccount(namespace, name);
    return sa && sa.metadata.uid === uid ? serviceAccountUser(sa) : undefined;
  }

  return {
    mint(lifetimeMs, identity, token = `tidepool-fake.${randomBytes(12).toString('hex')}`) {
      tokens.set(token, { expiresAt: Date.now() + lifetimeMs, identity });
      return token;
    },
    revoke(token) {
      const t = tokens.get(token);
      if (t) t.expiresAt = 0;
    },
    authenticator: bearerTokens(userOf),
  };
}
