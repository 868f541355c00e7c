// A strict in-memory Kubernetes API server for tidepool's tests. It speaks
// the real REST protocol (paths, verbs, Status errors, watch streams) over
// plain HTTP/1.1 on loopback, so @kubernetes/client-node and raw HTTP
// clients can be used against it unchanged. README.md beside this file lists
// exactly what is and is not faithful.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { AdmissionAttributes, AdmissionWebhook, UserInfo } from './admission.ts';
import { createAdmissionClient } from './admission.ts';
import { createTokenAuthority } from './authn.ts';
import type { KindOptions, KindSpec, KubeObject } from '../../src/apiserver/kinds.ts';
import { builtinKinds } from '../../src/apiserver/builtin-kinds.ts';
import { apiVersionOf, customKind } from '../../src/apiserver/kinds.ts';
import { TIDEPOOL_KINDS } from '../../src/apiserver/tidepool-kinds.ts';
import { applyJsonPatch, applyMergePatch, PatchError } from '../../src/apiserver/patch.ts';
import type { FieldRequirement, LabelSelector } from '../../src/apiserver/selectors.ts';
import { parseFieldSelector, parseLabelSelector, SelectorError } from '../../src/apiserver/selectors.ts';
import type { StatusObject } from '../../src/apiserver/status.ts';
import { ApiError, badRequest, conflict, failure, methodNotAllowed, notFound, pageNotFound, reasonForCode, unsupportedMediaType } from '../../src/apiserver/status.ts';
import type { DeleteOptions, DeleteResult, Filter, KindState, Watcher } from '../../src/apiserver/store.ts';
import { Store } from '../../src/apiserver/store.ts';

export type { AdmissionWebhook, AdmissionRule, AdmissionOperation, UserInfo } from './admission.ts';
export type { KindOptions, KubeObject, ObjectMeta } from '../../src/apiserver/kinds.ts';
export type { StatusObject } from '../../src/apiserver/status.ts';

/** The request verbs the fake distinguishes, as in Kubernetes audit/RBAC terms. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface FakeApiServerOptions {
  /** TCP port on 127.0.0.1; default 0 (any free port). */
  port?: number;
  /** Clock for creationTimestamp and deletionTimestamp; default the real clock. */
  now?: () => Date;
  /** How many past writes watches and paged lists can resume from; default 10,000. */
  historySize?: number;
  /** Validating admission webhooks; replace at runtime with setAdmission. */
  admission?: AdmissionWebhook[];
  /** Period of BOOKMARK events to watches that allow them; default 60,000 (the real server's is about a minute). */
  bookmarkIntervalMs?: number;
  /** Namespaces present at start; default the four every cluster has. */
  namespaces?: string[];
  /** Extra kinds to serve from the start (same as calling registerKind). */
  kinds?: KindOptions[];
  /** The user reported to webhooks; default an admin-like test user. */
  userInfo?: UserInfo;
  /**
   * Bearer-token authentication (default off: every request is served).
   * When on, a request needs the token of kubeconfig() (never expires) or
   * one from mintToken() that has not expired by the real clock; anything
   * else gets the real server's 401, and no credentials at all a 403 as
   * system:anonymous (except /healthz, /livez, /readyz, /version). Open
   * watches are not cut when their token expires, as on the real server.
   */
  authentication?: boolean;
}

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

/** A running fake API server. */
export interface FakeApiServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /**
   * A kubeconfig for this server: insecure-skip-tls-verify (client-node
   * needs it for http) and a user with the server's permanent token, or the
   * `user` given (e.g. `{ tokenFile: path }` or `{ exec: {...} }`).
   */
  kubeconfig(user?: Record<string, unknown>): string;
  writeKubeconfig(path: string, user?: Record<string, unknown>): void;
  /** A bearer token accepted for `lifetimeMs` from now (with `authentication` on). */
  mintToken(lifetimeMs: number): string;
  /** Makes a token invalid now. */
  revokeToken(token: string): void;
  /** Serves another kind, as installing a CRD would. */
  registerKind(opts: KindOptions): void;
  /** Replaces the validating admission webhooks. */
  setAdmission(hooks: AdmissionWebhook[]): void;
  injectFault(fault: FaultSpec): FaultHandle;
  clearFaults(): void;
  /**
   * Ends every open watch, as an API server restart would. Default: the stream ends
   * cleanly; `abrupt` destroys the connections instead. Returns how many were dropped.
   */
  dropWatches(opts?: { abrupt?: boolean }): number;
  /** Sends a BOOKMARK now to every watch that allowed bookmarks; returns how many got one. */
  sendBookmarks(): number;
  /** Open watch streams. */
  watchCount(): number;
  stats(): ServerStats;
  resetStats(): void;
  /** Copies of every stored object of a resource (`pods`, `ippools` or `ippools.tidepool.dev`), sorted by key. */
  objects(resource: string): KubeObject[];
  /** The current global resourceVersion. */
  resourceVersion(): string;
  close(): Promise<void>;
}

const MAX_BODY = 3 * 1024 * 1024;
const TOKEN = 'tidepool-fake-token';

interface Route {
  kind: KindState;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** The legacy `/watch/` path prefix was used. */
  watchPrefix: boolean;
}

interface OpenWatch {
  res: ServerResponse;
  watcher: Watcher | undefined;
  timer: NodeJS.Timeout | undefined;
  end(abrupt: boolean): void;
}

interface ActiveFault {
  spec: FaultSpec;
  remaining: number;
  hits: number;
}

/** The real server's answer to a read at a resourceVersion its watch cache has not reached (storage.NewTooLargeResourceVersionError). */
function tooLargeResourceVersion(requested: number, current: number): StatusObject {
  return failure(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  }).status;
}

const emptyStats = (): ServerStats => ({ total: 0, requests: {}, responses: {}, conflicts: {}, alreadyExists: {} });

/** Starts a fake API server on 127.0.0.1. */
export async function createFakeApiServer(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
  const now = opts.now ?? (() => new Date());
  const store = new Store({ now, historySize: opts.historySize ?? 10_000 });
  for (const spec of [...builtinKinds(), ...TIDEPOOL_KINDS.map(customKind)]) store.addKind(spec);
  for (const k of opts.kinds ?? []) store.addKind(customKind(k));
  const nsKind = store.kind('', 'namespaces')!;
  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.commitCreate(nsKind, store.prepareCreate(nsKind, undefined, { metadata: { name: ns } }));
  }
  let hooks: AdmissionWebhook[] = [...(opts.admission ?? [])];
  const admission = createAdmissionClient(opts.userInfo ?? { username: 'tidepool-test', groups: ['system:masters', 'system:authenticated'] });
  const faults = new Set<ActiveFault>();
  const watches = new Set<OpenWatch>();
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let stats = emptyStats();
  let closed = false;
  const authority = opts.authentication ? createTokenAuthority(TOKEN) : undefined;

  const bump = (rec: Record<string, number>, key: string): void => {
    rec[key] = (rec[key] ?? 0) + 1;
  };

  function sendJson(res: ServerResponse, code: number, body: unknown, resourceKey?: string): void {
    const text = JSON.stringify(body);
    bump(stats.responses, String(code));
    if (code === 409 && resourceKey) {
      const reason = (body as StatusObject).reason;
      if (reason === 'Conflict') bump(stats.conflicts, resourceKey);
      if (reason === 'AlreadyExists') bump(stats.alreadyExists, resourceKey);
    }
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache, private' });
    res.end(text);
  }

  function sendStatus(res: ServerResponse, status: StatusObject, resourceKey?: string): void {
    sendJson(res, status.code, status, resourceKey);
  }

  function sendText(res: ServerResponse, code: number, text: string): void {
    bump(stats.responses, String(code));
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  // ---- routing ------------------------------------------------------------

  function findKind(group: string, version: string, plural: string): KindState | undefined {
    const k = store.kind(group, plural);
    return k && k.spec.version === version ? k : undefined;
  }

  /** Maps `/api/v1/...` and `/apis/<g>/<v>/...` resource paths; undefined for anything else. */
  function route(segs: string[]): Route | undefined {
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 3) {
      group = '';
      version = segs[1]!;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 4) {
      group = segs[1]!;
      version = segs[2]!;
      rest = segs.slice(3);
    } else return undefined;
    let watchPrefix = false;
    if (rest[0] === 'watch') {
      watchPrefix = true;
      rest = rest.slice(1);
    }
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const kind = findKind(group, version, rest[2]!);
      if (kind && kind.spec.namespaced) {
        if (rest.length > 5) return undefined;
        return { kind, namespace: rest[1], name: rest[3], subresource: rest[4], watchPrefix };
      }
    }
    const kind = findKind(group, version, rest[0] ?? '');
    if (!kind || rest.length > 3) return undefined;
    return { kind, name: rest[1], subresource: rest[2], watchPrefix };
  }

  function verbOf(method: string, r: Route, query: URLSearchParams): Verb | undefined {
    const watchParam = query.get('watch');
    const isWatch = r.watchPrefix || watchParam === 'true' || watchParam === '1';
    switch (method) {
      case 'GET':
        if (isWatch) return 'watch';
        return r.name === undefined ? 'list' : 'get';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return r.name === undefined ? 'deletecollection' : 'delete';
      default:
        return undefined;
    }
  }

  function resourceKeyOf(r: Route): string {
    return r.subresource ? `${r.kind.spec.plural}/${r.subresource}` : r.kind.spec.plural;
  }

  function faultFor(verb: Verb, r: Route, query: URLSearchParams): ActiveFault | undefined {
    for (const f of faults) {
      const s = f.spec;
      if (f.remaining <= 0) continue;
      if (s.tooLargeResourceVersion && ((verb !== 'watch' && verb !== 'list') || ['', '0'].includes(query.get('resourceVersion') ?? ''))) continue;
      if (s.verb !== undefined && s.verb !== verb) continue;
      if (s.resource !== undefined && s.resource !== resourceKeyOf(r) && s.resource !== r.kind.spec.plural) continue;
      if (s.name !== undefined) {
        const n = r.name ?? '';
        if (typeof s.name === 'string' ? s.name !== n : !s.name.test(n)) continue;
      }
      f.remaining--;
      f.hits++;
      if (f.remaining <= 0) faults.delete(f);
      return f;
    }
    return undefined;
  }

  // ---- body parsing -------------------------------------------------------

  function readBody(req: IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(failure(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  function mediaType(req: IncomingMessage): string {
    return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  }

  function parseObjectBody(spec: KindSpec, req: IncomingMessage, raw: Buffer): unknown {
    const type = mediaType(req);
    const text = raw.toString('utf8');
    if (type === '' || type === 'application/json' || type === '*/*') {
      try {
        return JSON.parse(text);
      } catch (e) {
        throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
      }
    }
    if (type === 'application/yaml') {
      try {
        return parseYaml(text);
      } catch (e) {
        throw badRequest(`error converting YAML to JSON: ${(e as Error).message}`);
      }
    }
    throw unsupportedMediaType(spec.customResource ? ['application/json', 'application/yaml'] : ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
  }

  function parseDeleteOptions(raw: Buffer, query: URLSearchParams): DeleteOptions {
    const opts: DeleteOptions = {};
    if (raw.length > 0) {
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`);
      }
      if (typeof body === 'object' && body !== null) {
        const b = body as { gracePeriodSeconds?: unknown; preconditions?: { uid?: unknown; resourceVersion?: unknown } | null; dryRun?: unknown };
        if (Array.isArray(b.dryRun) && b.dryRun.length > 0) throw badRequest('dryRun is not supported by the tidepool fake API server');
        if (typeof b.gracePeriodSeconds === 'number') opts.gracePeriodSeconds = b.gracePeriodSeconds;
        if (b.preconditions) {
          opts.preconditions = {};
          if (typeof b.preconditions.uid === 'string') opts.preconditions.uid = b.preconditions.uid;
          if (typeof b.preconditions.resourceVersion === 'string') opts.preconditions.resourceVersion = b.preconditions.resourceVersion;
        }
      }
    }
    const g = query.get('gracePeriodSeconds');
    if (g !== null && g !== '') {
      if (!/^-?\d+$/.test(g)) throw badRequest(`gracePeriodSeconds: Invalid value: ${JSON.stringify(g)}: must be an integer`);
      opts.gracePeriodSeconds = Number(g);
    }
    return opts;
  }

  function parseFilter(kind: KindState, namespace: string | undefined, query: URLSearchParams): Filter {
    let label: LabelSelector | undefined;
    let fields: FieldRequirement[];
    try {
      const l = query.get('labelSelector');
      if (l) label = parseLabelSelector(l);
      fields = parseFieldSelector(query.get('fieldSelector') ?? '');
    } catch (e) {
      if (e instanceof SelectorError) throw badRequest(e.message);
      throw e;
    }
    store.checkFieldSelector(kind, fields);
    const filter: Filter = { fields };
    if (label) filter.label = label;
    if (namespace !== undefined) filter.namespace = namespace;
    return filter;
  }

  function parseRv(value: string): number {
    if (!/^\d+$/.test(value)) throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(value)}: strconv.ParseUint: parsing ${JSON.stringify(value)}: invalid syntax`);
    return Number(value);
  }

  // ---- admission ----------------------------------------------------------

  async function admit(a: AdmissionAttributes): Promise<void> {
    if (hooks.length === 0) return;
    await admission.validate(hooks, a);
  }

  // ---- handlers -----------------------------------------------------------

  /** Built-in lists carry no per-item kind/apiVersion on the wire; custom resource lists do. */
  function listItem(spec: KindSpec, obj: KubeObject): unknown {
    if (spec.customResource) return obj;
    const { kind: _k, apiVersion: _a, ...rest } = obj;
    return rest;
  }

  function handleList(res: ServerResponse, r: Route, query: URLSearchParams): void {
    const spec = r.kind.spec;
    const filter = parseFilter(r.kind, r.namespace, query);
    const limitParam = query.get('limit');
    let limit: number | undefined;
    if (limitParam !== null && limitParam !== '') {
      if (!/^\d+$/.test(limitParam)) throw badRequest(`limit: Invalid value: ${JSON.stringify(limitParam)}: must be a non-negative integer`);
      limit = Number(limitParam);
    }
    const rvParam = query.get('resourceVersion') ?? '';
    const cont = query.get('continue') ?? '';
    let atRv: number | undefined;
    let startAfter: string | undefined;
    if (cont) {
      if (rvParam) throw badRequest('specifying resource version is not allowed when using continue');
      let token: { v?: unknown; rv?: unknown; start?: unknown };
      try {
        token = JSON.parse(Buffer.from(cont, 'base64').toString('utf8')) as typeof token;
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      if (token.v !== 'meta.k8s.io/v1' || typeof token.rv !== 'number' || typeof token.start !== 'string') throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      atRv = token.rv;
      startAfter = token.start;
    } else if (rvParam && query.get('resourceVersionMatch') === 'Exact') {
      atRv = parseRv(rvParam);
      if (atRv > Number(store.resourceVersion)) throw new ApiError(tooLargeResourceVersion(atRv, store.resourceVersion));
    } else if (rvParam) parseRv(rvParam);
    const listOpts: { atRv?: number; startAfter?: string; limit?: number } = {};
    if (atRv !== undefined) listOpts.atRv = atRv;
    if (startAfter !== undefined) listOpts.startAfter = startAfter;
    if (limit !== undefined) listOpts.limit = limit;
    const page = store.list(r.kind, filter, listOpts);
    const metadata: Record<string, unknown> = { resourceVersion: String(page.rv) };
    if (page.more) {
      const last = page.items[page.items.length - 1]!;
      const key = spec.namespaced ? `${last.metadata.namespace}/${last.metadata.name}` : last.metadata.name!;
      metadata['continue'] = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: page.rv, start: key })).toString('base64');
      // Like the real server, the remaining count is only known without selectors.
      if (!filter.label && filter.fields.length === 0 && filter.namespace === undefined) metadata['remainingItemCount'] = page.remaining;
    }
    sendJson(res, 200, { kind: `${spec.kind}List`, apiVersion: apiVersionOf(spec), metadata, items: page.items.map((o) => listItem(spec, o)) });
  }

  function handleWatch(res: ServerResponse, r: Route, query: URLSearchParams): void {
    const filter = parseFilter(r.kind, r.namespace, query);
    if (r.name !== undefined) filter.fields = [...filter.fields, { field: 'metadata.name', op: '=', value: r.name }];
    const rvParam = query.get('resourceVersion') ?? '';
    const sinceRv = rvParam === '' || rvParam === '0' ? undefined : parseRv(rvParam);
    const timeoutParam = query.get('timeoutSeconds');
    let timeoutSeconds: number | undefined;
    if (timeoutParam !== null && timeoutParam !== '') {
      if (!/^\d+$/.test(timeoutParam)) throw badRequest(`timeoutSeconds: Invalid value: ${JSON.stringify(timeoutParam)}: must be a non-negative integer`);
      timeoutSeconds = Number(timeoutParam);
    }
    const bookmarks = query.get('allowWatchBookmarks') === 'true' || query.get('allowWatchBookmarks') === '1';
    bump(stats.responses, '200');
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const open: OpenWatch = {
      res,
      watcher: undefined,
      timer: undefined,
      end(abrupt) {
        if (open.watcher) store.unwatch(open.watcher);
        open.watcher = undefined;
        if (open.timer) clearTimeout(open.timer);
        watches.delete(open);
        if (abrupt) res.socket?.destroy();
        else if (!res.writableEnded) res.end();
      },
    };
    const sink = { write: (line: string) => void res.write(line) };
    if (sinceRv !== undefined && sinceRv > store.resourceVersion) {
      // The real watch cache waits briefly, then fails this way; the fake fails at once.
      res.end(JSON.stringify({ type: 'ERROR', object: tooLargeResourceVersion(sinceRv, store.resourceVersion) }) + '\n');
      return;
    }
    const watchOpts: { sinceRv?: number; bookmarks: boolean } = { bookmarks };
    if (sinceRv !== undefined) watchOpts.sinceRv = sinceRv;
    open.watcher = store.watch(r.kind, filter, sink, watchOpts);
    if (!open.watcher) {
      res.end();
      return;
    }
    watches.add(open);
    if (timeoutSeconds !== undefined && timeoutSeconds > 0) open.timer = setTimeout(() => open.end(false), timeoutSeconds * 1000);
    // The response's close covers both a client that goes away and our own end().
    res.on('close', () => open.end(false));
  }

  function handleGet(res: ServerResponse, r: Route): void {
    const obj = store.get(r.kind, r.namespace, r.name!);
    if (!obj) throw notFound(r.kind.spec, r.name!);
    sendJson(res, 200, obj);
  }

  async function handleCreate(res: ServerResponse, r: Route, body: unknown, rk: string): Promise<void> {
    const spec = r.kind.spec;
    if (spec.namespaced && r.namespace === undefined) throw methodNotAllowed();
    const obj = store.prepareCreate(r.kind, r.namespace, body);
    await admit({ operation: 'CREATE', spec, name: obj.metadata.name!, namespace: obj.metadata.namespace, object: obj, options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' } });
    sendJson(res, 201, store.commitCreate(r.kind, obj), rk);
  }

  /** POST pods/<name>/binding: how a scheduler sets spec.nodeName, the one way to set it after create. */
  async function handleBinding(res: ServerResponse, r: Route, body: unknown): Promise<void> {
    const spec = r.kind.spec;
    const b = body as { metadata?: { name?: string }; target?: { kind?: string; name?: string } } | null;
    const node = b?.target?.name;
    if (!node || (b?.target?.kind !== undefined && b.target.kind !== 'Node' && b.target.kind !== ''))
      throw failure(422, 'Invalid', `Binding.core "${r.name}" is invalid: target.name: Required value`);
    const bindingRef = { group: '', plural: 'pods/binding', kind: 'Binding' };
    for (;;) {
      const current = store.get(r.kind, r.namespace, r.name!);
      if (!current) throw notFound(spec, r.name!);
      const podSpec = (current['spec'] ?? {}) as { nodeName?: string };
      if (current.metadata.deletionTimestamp) throw conflict(bindingRef, r.name!, `pod ${r.name} is being deleted, cannot be assigned to a host`);
      if (podSpec.nodeName) throw conflict(bindingRef, r.name!, `pod ${r.name} is already assigned to node "${podSpec.nodeName}"`);
      const next = structuredClone(current);
      (next['spec'] as Record<string, unknown>)['nodeName'] = node;
      await admit({ operation: 'CREATE', spec, subresource: 'binding', name: r.name!, namespace: r.namespace, object: body as KubeObject });
      if (store.get(r.kind, r.namespace, r.name!) !== current) continue;
      store.commitUpdate(r.kind, current, next);
      sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
      return;
    }
  }

  /** PUT and PATCH share this loop: recompute from the latest object when admission raced another write. */
  async function writeLoop(res: ServerResponse, r: Route, rk: string, produce: (current: KubeObject) => unknown): Promise<void> {
    const spec = r.kind.spec;
    for (;;) {
      const current = store.get(r.kind, r.namespace, r.name!);
      if (!current) throw notFound(spec, r.name!);
      const next = store.prepareUpdate(r.kind, current, produce(current), { subresource: r.subresource, urlName: r.name!, urlNamespace: r.namespace });
      await admit({ operation: 'UPDATE', spec, subresource: r.subresource, name: r.name!, namespace: r.namespace, object: next, oldObject: current, options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' } });
      if (store.get(r.kind, r.namespace, r.name!) !== current) continue;
      const result = store.commitUpdate(r.kind, current, next);
      sendJson(res, 200, result.object, rk);
      return;
    }
  }

  async function handleUpdate(res: ServerResponse, r: Route, body: unknown, rk: string): Promise<void> {
    if (!store.get(r.kind, r.namespace, r.name!) && r.kind.spec.allowCreateOnUpdate && !r.subresource) {
      const b = body as KubeObject;
      if (b?.metadata?.name !== r.name) throw badRequest(`the name of the object (${b?.metadata?.name ?? ''}) does not match the name on the URL (${r.name})`);
      return handleCreate(res, r, body, rk);
    }
    return writeLoop(res, r, rk, () => body);
  }

  async function handlePatch(req: IncomingMessage, res: ServerResponse, r: Route, raw: Buffer, rk: string): Promise<void> {
    const spec = r.kind.spec;
    const type = mediaType(req);
    const accepted = spec.customResource
      ? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
      : ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];
    // Strategic merge is only defined for built-in types; it is applied as a JSON merge patch here.
    const isMerge = type === 'application/merge-patch+json' || (type === 'application/strategic-merge-patch+json' && !spec.customResource);
    const isJsonPatch = type === 'application/json-patch+json';
    if (!isMerge && !isJsonPatch) throw unsupportedMediaType(type === 'application/apply-patch+yaml' ? ['application/json-patch+json', 'application/merge-patch+json'] : accepted);
    let patch: unknown;
    try {
      patch = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    if (isMerge && (typeof patch !== 'object' || patch === null || Array.isArray(patch))) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
    return writeLoop(res, r, rk, (current) => {
      try {
        return isMerge ? applyMergePatch(current, patch) : applyJsonPatch(current, patch);
      } catch (e) {
        if (e instanceof PatchError) throw e.code === 400 ? badRequest(e.message) : failure(422, 'Invalid', e.message);
        throw e;
      }
    });
  }

  function deleteResponse(spec: KindSpec, result: DeleteResult): unknown {
    if (!result.removed || spec.returnDeletedObject) return result.object;
    const details: Record<string, unknown> = { name: result.object.metadata.name };
    if (spec.group) details['group'] = spec.group;
    details['kind'] = spec.plural;
    details['uid'] = result.object.metadata.uid;
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
  }

  async function deleteOne(r: Route, name: string, namespace: string | undefined, options: DeleteOptions): Promise<DeleteResult> {
    const spec = r.kind.spec;
    for (;;) {
      const current = store.get(r.kind, namespace, name);
      if (!current) throw notFound(spec, name);
      const isNamespace = spec.group === '' && spec.plural === 'namespaces';
      const plan = store.prepareDelete(r.kind, current, options);
      await admit({ operation: 'DELETE', spec, name, namespace, oldObject: current, options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', ...options } });
      if (store.get(r.kind, namespace, name) !== current) continue;
      return isNamespace ? store.deleteNamespace(r.kind, current, options) : store.commitDelete(r.kind, plan);
    }
  }

  async function handleDelete(res: ServerResponse, r: Route, raw: Buffer, query: URLSearchParams): Promise<void> {
    if (r.subresource) throw methodNotAllowed();
    const result = await deleteOne(r, r.name!, r.namespace, parseDeleteOptions(raw, query));
    sendJson(res, 200, deleteResponse(r.kind.spec, result));
  }

  async function handleDeleteCollection(res: ServerResponse, r: Route, raw: Buffer, query: URLSearchParams): Promise<void> {
    const spec = r.kind.spec;
    if (spec.namespaced && r.namespace === undefined) throw methodNotAllowed();
    const options = parseDeleteOptions(raw, query);
    delete options.preconditions;
    const filter = parseFilter(r.kind, r.namespace, query);
    const items: unknown[] = [];
    for (const obj of store.list(r.kind, filter, {}).items) {
      try {
        items.push(listItem(spec, (await deleteOne(r, obj.metadata.name!, obj.metadata.namespace, options)).object));
      } catch (e) {
        // Deleted by someone else meanwhile: the real server skips it too.
        if (e instanceof ApiError && e.status.code === 404) continue;
        throw e;
      }
    }
    sendJson(res, 200, { kind: `${spec.kind}List`, apiVersion: apiVersionOf(spec), metadata: { resourceVersion: String(store.resourceVersion) }, items });
  }

  // ---- discovery ----------------------------------------------------------

  function resourceList(group: string, version: string): unknown | undefined {
    const kinds = [...store.kinds.values()].filter((k) => k.spec.group === group && k.spec.version === version);
    if (kinds.length === 0) return undefined;
    const resources: unknown[] = [];
    for (const { spec } of kinds) {
      const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
      const entry: Record<string, unknown> = { name: spec.plural, singularName: spec.singular, namespaced: spec.namespaced, kind: spec.kind, verbs };
      if (spec.shortNames.length) entry['shortNames'] = spec.shortNames;
      resources.push(entry);
      for (const sub of spec.subresources) {
        const subVerbs = sub === 'binding' ? ['create'] : sub === 'finalize' ? ['update'] : ['get', 'patch', 'update'];
        const subKind = sub === 'binding' ? 'Binding' : spec.kind;
        resources.push({ name: `${spec.plural}/${sub}`, singularName: '', namespaced: spec.namespaced, kind: subKind, verbs: subVerbs });
      }
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
  }

  function apiGroup(group: string): Record<string, unknown> | undefined {
    const versions = [...new Set([...store.kinds.values()].filter((k) => k.spec.group === group).map((k) => k.spec.version))];
    if (versions.length === 0) return undefined;
    const vs = versions.map((v) => ({ groupVersion: `${group}/${v}`, version: v }));
    return { name: group, versions: vs, preferredVersion: vs[0] };
  }

  function discovery(res: ServerResponse, segs: string[]): boolean {
    const path = segs.join('/');
    if (path === 'healthz' || path === 'readyz' || path === 'livez') {
      sendText(res, 200, 'ok');
      return true;
    }
    if (path === 'version') {
      sendJson(res, 200, { major: '1', minor: '31', gitVersion: 'v1.31.0-tidepool-fake', gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2024-08-13T00:00:00Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64' });
      return true;
    }
    if (path === 'api') {
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }] });
      return true;
    }
    if (path === 'api/v1') {
      sendJson(res, 200, resourceList('', 'v1'));
      return true;
    }
    if (path === 'apis') {
      const groups = [...new Set([...store.kinds.values()].map((k) => k.spec.group).filter((g) => g !== ''))].sort();
      sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(apiGroup) });
      return true;
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = apiGroup(segs[1]!);
      if (!g) return false;
      sendJson(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...g });
      return true;
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const list = resourceList(segs[1]!, segs[2]!);
      if (!list) return false;
      sendJson(res, 200, list);
      return true;
    }
    return false;
  }

  // ---- dispatch -----------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const segs = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const r = route(segs);
    const verb = r ? verbOf(method, r, url.searchParams) : undefined;
    if (authority) {
      const resource = r && verb ? { verb, resource: resourceKeyOf(r), group: r.kind.spec.group, namespace: r.namespace } : undefined;
      const refused = authority.check(req, url.pathname, resource);
      if (refused) throw new ApiError(refused);
    }
    if (!r) {
      if (method === 'GET' && discovery(res, segs)) return;
      throw pageNotFound();
    }
    const rk = resourceKeyOf(r);
    stats.total++;
    if (verb) bump((stats.requests[verb] ??= {}), rk);
    if (!verb) throw methodNotAllowed();
    const spec = r.kind.spec;
    if (r.subresource !== undefined && !spec.subresources.includes(r.subresource)) throw pageNotFound();
    if (r.name === undefined && spec.namespaced && r.namespace === undefined && verb !== 'list' && verb !== 'watch') throw methodNotAllowed();
    const fault = faultFor(verb, r, url.searchParams);
    if (fault) {
      if (fault.spec.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.spec.delayMs));
      if (fault.spec.tooLargeResourceVersion) {
        const requested = parseRv(url.searchParams.get('resourceVersion') ?? '');
        const status = tooLargeResourceVersion(requested, requested - 1);
        if (verb === 'list') throw new ApiError(status);
        bump(stats.responses, '200');
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
        res.end(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
        return;
      }
      if (fault.spec.reset) {
        req.socket.destroy();
        return;
      }
      if (fault.spec.hang) {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (fault.spec.status !== undefined) {
        const code = fault.spec.status;
        const details = r.name !== undefined ? { name: r.name, ...(spec.group ? { group: spec.group } : {}), kind: spec.plural } : undefined;
        throw failure(code, reasonForCode(code), fault.spec.message ?? 'injected fault', details);
      }
    }
    if (url.searchParams.getAll('dryRun').some((v) => v !== '')) throw badRequest('dryRun is not supported by the tidepool fake API server');
    switch (verb) {
      case 'get':
        if (r.subresource === 'binding') throw methodNotAllowed();
        return handleGet(res, r);
      case 'list':
        return handleList(res, r, url.searchParams);
      case 'watch':
        return handleWatch(res, r, url.searchParams);
      case 'create': {
        const raw = await readBody(req);
        if (r.subresource === 'binding') return handleBinding(res, r, parseObjectBody(spec, req, raw));
        if (r.name !== undefined) throw methodNotAllowed();
        return handleCreate(res, r, parseObjectBody(spec, req, raw), rk);
      }
      case 'update': {
        if (r.subresource === 'binding') throw methodNotAllowed();
        const raw = await readBody(req);
        return handleUpdate(res, r, parseObjectBody(spec, req, raw), rk);
      }
      case 'patch': {
        if (r.subresource === 'binding') throw methodNotAllowed();
        return handlePatch(req, res, r, await readBody(req), rk);
      }
      case 'delete':
        return handleDelete(res, r, await readBody(req), url.searchParams);
      case 'deletecollection':
        return handleDeleteCollection(res, r, await readBody(req), url.searchParams);
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const url = req.url ?? '';
      const r = route(new URL(url, 'http://127.0.0.1').pathname.split('/').filter((s) => s !== ''));
      const rk = r ? resourceKeyOf(r) : undefined;
      if (e instanceof ApiError) sendStatus(res, e.status, rk);
      else sendStatus(res, failure(500, 'InternalError', `Internal error occurred: ${(e as Error)?.stack ?? String(e)}`).status, rk);
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;

  const bookmarkTimer = setInterval(() => void sendBookmarks(), opts.bookmarkIntervalMs ?? 60_000);
  bookmarkTimer.unref();

  function sendBookmarks(): number {
    let n = 0;
    for (const w of watches) {
      if (w.watcher?.bookmarks) {
        store.bookmark(w.watcher);
        n++;
      }
    }
    return n;
  }

  function kubeconfig(user: Record<string, unknown> = { token: TOKEN }): string {
    const userYaml = stringifyYaml(user).trimEnd().split('\n').map((l) => `    ${l}`);
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: tidepool-fake',
      '  cluster:',
      `    server: ${url}`,
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: tidepool-fake',
      '  user:',
      ...userYaml,
      'contexts:',
      '- name: tidepool-fake',
      '  context:',
      '    cluster: tidepool-fake',
      '    user: tidepool-fake',
      '    namespace: default',
      'current-context: tidepool-fake',
      '',
    ].join('\n');
  }

  function lookupResource(resource: string): KindState {
    const dot = resource.indexOf('.');
    if (dot > 0) {
      const k = store.kind(resource.slice(dot + 1), resource.slice(0, dot));
      if (k) return k;
    }
    const found = [...store.kinds.values()].filter((k) => k.spec.plural === resource);
    if (found.length !== 1) throw new Error(found.length ? `resource ${resource} is ambiguous; qualify it with its group` : `unknown resource ${resource}`);
    return found[0]!;
  }

  return {
    url,
    port,
    kubeconfig,
    writeKubeconfig(path, user) {
      writeFileSync(path, kubeconfig(user), { mode: 0o600 });
    },
    mintToken(lifetimeMs) {
      if (!authority) throw new Error('mintToken needs the server started with authentication: true');
      return authority.mint(lifetimeMs);
    },
    revokeToken(token) {
      authority?.revoke(token);
    },
    registerKind(k) {
      store.addKind(customKind(k));
    },
    setAdmission(next) {
      hooks = [...next];
    },
    injectFault(spec) {
      const f: ActiveFault = { spec, remaining: spec.times ?? Infinity, hits: 0 };
      faults.add(f);
      return {
        get hits() {
          return f.hits;
        },
        remove() {
          faults.delete(f);
        },
      };
    },
    clearFaults() {
      faults.clear();
    },
    dropWatches(o) {
      const all = [...watches];
      for (const w of all) w.end(o?.abrupt ?? false);
      return all.length;
    },
    sendBookmarks,
    watchCount: () => watches.size,
    stats: () => structuredClone(stats),
    resetStats() {
      stats = emptyStats();
    },
    objects(resource) {
      const k = lookupResource(resource);
      return [...k.objects.keys()].sort().map((key) => structuredClone(k.objects.get(key)!));
    },
    resourceVersion: () => String(store.resourceVersion),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(bookmarkTimer);
      for (const w of [...watches]) w.end(false);
      for (const res of hanging) res.destroy();
      hanging.clear();
      admission.close();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await done;
    },
  };
}
