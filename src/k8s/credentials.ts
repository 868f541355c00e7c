import { readFile } from 'node:fs/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { runExecPlugin, type ExecConfig, type ExecCredential } from './exec-credential.ts';
import type { KubeAccess } from './kubeconfig.ts';
import type { Logger } from '../util/logger.ts';

/** What a request carries to say who it is. */
export interface Auth {
  /** Lower-case header names (`authorization`, `impersonate-user`). */
  readonly headers: Readonly<Record<string, string>>;
  /** A client certificate and key (PEM) from an exec plugin, for the TLS connection. */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined;
}

/** How the current kubeconfig user authenticates. */
export type CredentialSource = 'none' | 'token' | 'basic' | 'token-file' | 'exec' | 'auth-provider';

/**
 * The credentials of one kubeconfig user, kept fresh as client-go keeps
 * them: a token file is re-read every 50 s, an exec plugin runs again in the
 * last fifth of its credential's life (at most 10 s before it expires), an
 * auth provider (OIDC) is asked again when its token expires; and each is
 * refreshed at once after a 401.
 */
export interface Credentials {
  readonly source: CredentialSource;
  /**
   * The credentials for the next request. No I/O while they are fresh (the
   * cost of a request is a clock read); when they are due but still valid,
   * the refresh runs behind the request; only when they are missing or
   * expired does the request wait for it, and fail if it fails.
   */
  current(): Promise<Auth>;
  /**
   * A request sent with `used` got 401. Resolves with credentials to send it
   * with once more (refreshed now, or by another request meanwhile), or
   * undefined when there is nothing new to try (a static token, a token file
   * not rotated yet). Concurrent callers share one refresh.
   */
  renew(used: Auth): Promise<Auth | undefined>;
}

export interface CredentialOptions {
  /** Clock for refresh times; default Date.now. */
  readonly now?: () => number;
  /** Told when a refresh failed while the old credentials were still valid (they stay in use). */
  readonly onRefreshFailed?: (source: CredentialSource, err: Error) => void;
  /** Reads a token file; injectable for tests. */
  readonly readFile?: (path: string) => Promise<string>;
  /** Runs an exec plugin; injectable for tests. */
  readonly runPlugin?: (exec: ExecConfig) => Promise<ExecCredential>;
}

/** client-go keeps a file token for a minute and re-reads it 10 s before that. */
export const TOKEN_FILE_REFRESH_MS = 50_000;
/** An auth provider's token without a readable expiry is asked for again after this long. */
export const PROVIDER_REFRESH_MS = 60_000;
/** After a failed refresh, the next try waits this long (the old credentials stay in use meanwhile). */
const RETRY_MS = 1_000;

/** One fetch of a source's credentials: use them until `refreshAt`, never after `expiresAt`. */
interface Fetched {
  readonly auth: Auth;
  readonly refreshAt: number;
  readonly expiresAt: number;
}

interface Source {
  readonly kind: CredentialSource;
  /** Static sources never change: a 401 is final. */
  readonly fixed: boolean;
  fetch(now: number): Promise<Fetched>;
}

/** Chooses the source for the kubeconfig's current user and caches what it gives. */
export function createCredentials(access: KubeAccess, opts: CredentialOptions = {}): Credentials {
  return cache(chooseSource(access, opts), opts);
}

function chooseSource(access: KubeAccess, opts: CredentialOptions): Source {
  const user = access.kc.getCurrentUser();
  const extra: Record<string, string> = user?.impersonateUser ? { 'impersonate-user': user.impersonateUser } : {};
  const fixed = (kind: CredentialSource, headers: Record<string, string>): Source => ({
    kind,
    fixed: true,
    fetch: async () => ({ auth: { headers: { ...headers, ...extra } }, refreshAt: Infinity, expiresAt: Infinity }),
  });
  if (user?.exec) return execSource(user.exec as ExecConfig, access, extra, opts);
  const providerFile = (user?.authProvider as { config?: { tokenFile?: unknown } } | undefined)?.config?.tokenFile;
  const tokenFile = access.tokenFile ?? (typeof providerFile === 'string' ? providerFile : undefined);
  if (tokenFile) return tokenFileSource(tokenFile, extra, opts);
  if (user?.authProvider) return providerSource(access.kc, extra);
  if (user?.token) return fixed('token', { authorization: `Bearer ${user.token}` });
  if (user?.username) return fixed('basic', { authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}` });
  return fixed('none', {});
}

function tokenFileSource(path: string, extra: Record<string, string>, opts: CredentialOptions): Source {
  const read = opts.readFile ?? ((p: string) => readFile(p, 'utf8'));
  return {
    kind: 'token-file',
    fixed: false,
    async fetch(now) {
      const token = (await read(path)).trim();
      if (!token) throw new Error(`token file ${path} is empty`);
      // A token file says nothing of its expiry: a failed re-read keeps the last token, as client-go does.
      return { auth: { headers: { authorization: `Bearer ${token}`, ...extra } }, refreshAt: now + TOKEN_FILE_REFRESH_MS, expiresAt: Infinity };
    },
  };
}

function execSource(exec: ExecConfig, access: KubeAccess, extra: Record<string, string>, opts: CredentialOptions): Source {
  const cluster = access.kc.getCurrentCluster();
  const clusterInfo = cluster
    ? { server: cluster.server, ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}), ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}), ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}) }
    : undefined;
  const run = opts.runPlugin ?? ((e: ExecConfig) => runExecPlugin(e, { dir: access.dir, cluster: clusterInfo }));
  return {
    kind: 'exec',
    fixed: false,
    async fetch(now) {
      const c = await run(exec);
      const auth: Auth = { headers: { ...(c.token ? { authorization: `Bearer ${c.token}` } : {}), ...extra }, tls: c.cert && c.key ? { cert: c.cert, key: c.key } : undefined };
      if (c.expiresAt === undefined) return { auth, refreshAt: Infinity, expiresAt: Infinity };
      // One that has expired already is used as it is, and the plugin asked again a second later, not per request.
      const expiresAt = Math.max(c.expiresAt, now + RETRY_MS);
      return { auth, refreshAt: expiresAt - Math.min(10_000, (expiresAt - now) / 5), expiresAt };
    },
  };
}

/** OIDC and the other client-node auth providers: client-node refreshes the token once it has expired. */
function providerSource(kc: KubeConfig, extra: Record<string, string>): Source {
  return {
    kind: 'auth-provider',
    fixed: false,
    async fetch(now) {
      const o: { headers: Record<string, string | number | string[]> } = { headers: {} };
      await kc.applyToHTTPSOptions(o);
      const headers: Record<string, string> = { ...extra };
      for (const [k, v] of Object.entries(o.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v;
      const exp = jwtExpiry(headers['authorization']);
      // An expired token client-node could not refresh is used as it is, and asked for again a second later.
      const expiresAt = exp === undefined ? Infinity : Math.max(exp, now + RETRY_MS);
      return { auth: { headers }, refreshAt: Math.min(now + PROVIDER_REFRESH_MS, expiresAt), expiresAt };
    },
  };
}

/** The `exp` (epoch ms) of a bearer JWT, if it is one. */
export function jwtExpiry(authorization: string | undefined): number | undefined {
  const m = /^Bearer [^.]+\.([^.]+)\.[^.]*$/.exec(authorization ?? '');
  if (!m) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function sameAuth(a: Auth, b: Auth): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function cache(source: Source, opts: CredentialOptions): Credentials {
  const now = opts.now ?? Date.now;
  let cached: Fetched | undefined;
  let inflight: Promise<Fetched> | undefined;
  let retryAt = 0;

  function refresh(): Promise<Fetched> {
    inflight ??= source.fetch(now()).then(
      (f) => {
        inflight = undefined;
        cached = f;
        return f;
      },
      (err: unknown) => {
        inflight = undefined;
        retryAt = now() + RETRY_MS;
        throw err instanceof Error ? err : new Error(String(err));
      },
    );
    return inflight;
  }

  return {
    source: source.kind,
    async current() {
      const c = cached;
      const t = now();
      if (c && t < c.refreshAt) return c.auth;
      if (c && t < c.expiresAt) {
        if (!inflight && t >= retryAt) refresh().catch((err: Error) => opts.onRefreshFailed?.(source.kind, err));
        return c.auth;
      }
      return (await refresh()).auth;
    },
    async renew(used) {
      if (source.fixed) return undefined;
      if (cached && cached.auth !== used) return cached.auth;
      let f = await refresh();
      // A refresh that was already under way may have started before the rotation: one more look.
      if (sameAuth(f.auth, used)) f = await refresh();
      return sameAuth(f.auth, used) ? undefined : f.auth;
    },
  };
}

/** Logs a failed refresh: the credentials in use still work, but will not for long if refreshing keeps failing. */
export function credentialWarning(log: Logger): (source: CredentialSource, err: Error) => void {
  return (source, err) => log.warn('could not refresh credentials; the current ones stay in use until they expire', { source, err: err.message });
}
