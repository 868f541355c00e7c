import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeResource, kubeVerb, type KubeApiMetrics } from './api-metrics.ts';
import { createCredentials, type Auth, type CredentialSource } from './credentials.ts';
import { tlsOptions, type KubeAccess } from './kubeconfig.ts';

/**
 * A small Kubernetes REST client: client-node's KubeConfig supplies the
 * server and TLS material, credentials.ts keeps the credentials fresh, and
 * requests go through one keep-alive agent. (client-node's generated APIs
 * build a new agent, hence a new connection, for every request, which at
 * thousands of allocations costs a TCP handshake each and floods TIME_WAIT.)
 */

/** metav1.StatusDetails fields tidepool reads: why (causes) and when to try again. */
export interface StatusDetails {
  readonly causes?: ReadonlyArray<{ readonly reason?: string; readonly message?: string; readonly field?: string }>;
  readonly retryAfterSeconds?: number;
}

/** A failed API call, carrying the API server's Status reason and details. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }
}

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
  finalizers?: string[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  creationTimestamp?: string;
  generateName?: string;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

export interface KubeRest {
  get<T>(path: string, query?: Query): Promise<T>;
  list<T>(path: string, query?: Query): Promise<KubeList<T>>;
  create<T>(path: string, body: unknown): Promise<T>;
  replace<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, type?: 'merge' | 'json'): Promise<T>;
  delete<T>(path: string, options?: DeleteOptions): Promise<T>;
  /**
   * Streams watch events until the server closes the stream, `signal` aborts,
   * or an error occurs; resolves on a clean close, rejects otherwise. ERROR
   * events (e.g. 410 Gone) are rejected as KubeApiError.
   */
  watch<T>(path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void>;
  close(): void;
}

export interface KubeRestOptions {
  /** Per-request timeout for non-watch calls. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /** Clock for credential refresh times; default Date.now. */
  readonly now?: () => number;
  /** Told when refreshing credentials failed while the old ones were still valid (they stay in use). */
  readonly onCredentialRefreshFailed?: (source: CredentialSource, err: Error) => void;
  /** Told of every request and watch; the composition root binds it to Prometheus. */
  readonly metrics?: KubeApiMetrics;
}

/**
 * Builds a client for the current context of a kubeconfig. Credentials are
 * read at once (a token file that cannot be read or an exec plugin that
 * fails makes this reject) and kept fresh afterwards (see Credentials); a
 * request or watch refused with 401 is sent once more after a refresh.
 */
export async function createKubeRest(config: KubeConfig | KubeAccess, opts: KubeRestOptions = {}): Promise<KubeRest> {
  const access: KubeAccess = 'kc' in config ? config : { kc: config };
  const cluster = access.kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const creds = createCredentials(access, { now: opts.now, onRefreshFailed: opts.onCredentialRefreshFailed });
  await creds.current();
  const common: Record<string, string> = { accept: 'application/json', 'user-agent': opts.userAgent ?? 'tidepool' };
  const secure = base.protocol === 'https:';
  const tls = secure ? tlsOptions(access.kc) : {};
  const transport = secure ? https : http;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const basePath = base.pathname.replace(/\/$/, '');
  // One keep-alive agent per client certificate: an exec plugin that rotates its certificate gets a new one, and
  // the old one's connections are closed, as client-go closes them.
  let pool: { cert: string | undefined; agent: http.Agent } = { cert: undefined, agent: newAgent(undefined) };
  function newAgent(cert: Auth['tls']): http.Agent {
    return secure ? new https.Agent({ keepAlive: true, maxSockets: 64, ...tls, ...(cert ? { cert: cert.cert, key: cert.key } : {}) }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
  }
  function agentFor(auth: Auth): http.Agent {
    if (!secure || auth.tls?.cert === pool.cert) return pool.agent;
    pool.agent.destroy();
    pool = { cert: auth.tls?.cert, agent: newAgent(auth.tls) };
    return pool.agent;
  }

  function url(path: string, query?: Query): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${basePath}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Credentials for a request; a source that cannot give any fails it like a connection that cannot be made. */
  async function credentials(method: string, path: string, renewing?: Auth): Promise<Auth | undefined> {
    try {
      return renewing ? await creds.renew(renewing) : await creds.current();
    } catch (err) {
      throw new KubeApiError(0, 'CredentialsUnavailable', `${method} ${path}: no credentials: ${(err as Error).message}`);
    }
  }

  /** Runs `attempt` with the current credentials and, if it is refused with 401, once more with renewed ones. */
  async function authenticated<T>(method: string, path: string, attempt: (auth: Auth) => Promise<T>): Promise<T> {
    const auth = (await credentials(method, path))!;
    try {
      return await attempt(auth);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 401)) throw err;
      const renewed = await credentials(method, path, auth);
      if (!renewed) throw err;
      return attempt(renewed);
    }
  }

  /** Reports one request to `opts.metrics`: its HTTP status, or `none` when no answer came. */
  function observe(method: string, path: string, status: number | undefined, started: number | undefined): void {
    opts.metrics?.request(kubeVerb(method, path), kubeResource(path), status === undefined ? 'none' : String(status), started === undefined ? undefined : (performance.now() - started) / 1000);
  }

  function send<T>(auth: Auth, method: string, path: string, payload: string | undefined, contentType: string, query?: Query): Promise<T> {
    const started = performance.now();
    return new Promise<T>((resolve, reject) => {
      const headers = payload === undefined ? { ...common, ...auth.headers } : { ...common, ...auth.headers, 'content-type': contentType, 'content-length': Buffer.byteLength(payload) };
      const req = transport.request(
        { agent: agentFor(auth), host: base.hostname, port: base.port || (secure ? 443 : 80), method, path: url(path, query), headers, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            observe(method, path, status, started);
            const parsed = parseJson(text);
            if (status >= 200 && status < 300) resolve(parsed as T);
            else reject(toApiError(status, parsed, text, method, path));
          });
          res.on('error', (err) => {
            observe(method, path, undefined, started);
            reject(new KubeApiError(0, 'ConnectionFailed', `${method} ${path}: ${err.message}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new KubeApiError(504, 'Timeout', `${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => {
        observe(method, path, undefined, started);
        reject(err instanceof KubeApiError ? err : new KubeApiError(0, 'ConnectionFailed', `${method} ${path}: ${err.message}`));
      });
      req.end(payload);
    });
  }

  function request<T>(method: string, path: string, body?: unknown, contentType = 'application/json', query?: Query): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return authenticated(method, path, (auth) => send<T>(auth, method, path, payload, contentType, query));
  }

  // A keep-alive socket the server closed while idle fails the next request on it at once; a read is safe to send again.
  async function read<T>(path: string, query?: Query): Promise<T> {
    try {
      return await request<T>('GET', path, undefined, undefined, query);
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'ConnectionFailed') return request<T>('GET', path, undefined, undefined, query);
      throw err;
    }
  }

  function openWatch<T>(auth: Auth, path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const headers = { ...common, ...auth.headers };
      const req = transport.request({ agent: agentFor(auth), host: base.hostname, port: base.port || (secure ? 443 : 80), method: 'GET', path: url(path, { ...query, watch: 'true' }), headers, signal }, (res) => {
        observe('WATCH', path, res.statusCode ?? 0, undefined);
        if ((res.statusCode ?? 0) !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            reject(toApiError(res.statusCode ?? 0, parseJson(text), text, 'WATCH', path));
          });
          return;
        }
        streamEvents(res, path, onEvent, signal, resolve, reject);
      });
      req.on('error', (err) => {
        if (signal?.aborted) return resolve();
        observe('WATCH', path, undefined, undefined);
        reject(new KubeApiError(0, 'ConnectionFailed', `WATCH ${path}: ${err.message}`));
      });
      req.end();
    });
  }

  return {
    get: (path, query) => read(path, query),
    list: (path, query) => read(path, query),
    create: (path, body) => request('POST', path, body),
    replace: (path, body) => request('PUT', path, body),
    patch: (path, body, type = 'merge') => request('PATCH', path, body, type === 'merge' ? 'application/merge-patch+json' : 'application/json-patch+json'),
    delete: (path, options) => request('DELETE', path, options ? { kind: 'DeleteOptions', apiVersion: 'v1', ...options } : undefined),
    // A watch refused with 401 never started: nothing was delivered, so it is opened again like any request.
    watch: (path, query, onEvent, signal) => authenticated('WATCH', path, (auth) => openWatch(auth, path, query, onEvent, signal)),
    close() {
      pool.agent.destroy();
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Feeds a 200 watch response's newline-delimited events to `onEvent`; an ERROR event rejects. */
function streamEvents<T>(res: http.IncomingMessage, path: string, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal | undefined, resolve: () => void, reject: (err: unknown) => void): void {
  let buffered = '';
  let failed = false;
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while (!failed && (nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      let event: WatchEvent<T>;
      try {
        event = JSON.parse(line) as WatchEvent<T>;
      } catch {
        failed = true;
        res.destroy();
        reject(new KubeApiError(0, 'BadWatchEvent', `WATCH ${path}: undecodable event line`));
        return;
      }
      if (event.type === 'ERROR') {
        failed = true;
        res.destroy();
        reject(toApiError((event.object as { code?: number }).code ?? 500, event.object, '', 'WATCH', path));
        return;
      }
      onEvent(event);
    }
  });
  res.on('end', () => (failed ? undefined : resolve()));
  res.on('error', (err) => (failed ? undefined : signal?.aborted ? resolve() : reject(err)));
  res.on('aborted', () => (failed ? undefined : resolve()));
}

function toApiError(status: number, parsed: unknown, text: string, method: string, path: string): KubeApiError {
  const s = parsed as { reason?: string; message?: string; details?: StatusDetails } | undefined;
  const details = typeof s?.details === 'object' && s.details !== null ? s.details : undefined;
  return new KubeApiError(status, s?.reason ?? 'Unknown', s?.message ? `${method} ${path}: ${s.message}` : `${method} ${path}: HTTP ${status} ${text.slice(0, 200)}`, details);
}

/**
 * The server has not caught up with the resourceVersion asked for (an API
 * server replica lagging behind the one that served the list): nothing was
 * lost, and the same request succeeds once it catches up. Matched as
 * client-go does: the status cause, or the message of servers that give none.
 */
export function isTooLargeResourceVersion(err: unknown): boolean {
  if (!(err instanceof KubeApiError)) return false;
  if (err.details?.causes?.some((c) => c.reason === 'ResourceVersionTooLarge')) return true;
  return err.status === 504 && err.message.includes('Too large resource version');
}

/** True for the API's "someone else changed or created it first" answers. */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
