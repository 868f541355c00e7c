import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { ERROR_TABLE, TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import { API_PATHS, type StatusResponse, type ValidatePoolsResponse } from '../api/protocol.ts';
import { planOrphanGroups } from '../ipam/claims.ts';
import type { IpamService } from './ipam-service.ts';
import type { PoolFileState } from './pool-file-state.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Logger } from '../util/logger.ts';
import {
  parseAllocateRequest,
  parseAttachmentRef,
  parseCollectRequest,
  parseGcRequest,
  parseReleaseIpRequest,
  parseStatusRequest,
  parseValidatePoolsRequest,
} from './requests.ts';

const MAX_BODY = 1 << 20;

type Handler = (body: unknown) => Promise<unknown>;

/** Maps path, then method, to a handler; bodies are validated before the service sees them. HEAD is served wherever GET is. */
function routes(service: IpamService, status: () => Promise<StatusResponse>, poolsFile: PoolFileState | undefined): Map<string, Map<string, Handler>> {
  const list: Array<[string, string, Handler]> = [
    ['POST', API_PATHS.allocate, (b) => service.allocate(parseAllocateRequest(b))],
    ['POST', API_PATHS.release, (b) => service.release(parseAttachmentRef(b))],
    ['POST', API_PATHS.check, (b) => service.check(parseAttachmentRef(b))],
    ['POST', API_PATHS.gc, (b) => service.gc(parseGcRequest(b))],
    ['POST', API_PATHS.status, (b) => service.status(parseStatusRequest(b))],
    ['GET', API_PATHS.status, status],
    ['GET', API_PATHS.pools, async () => (await service.status()).pools],
    ['POST', API_PATHS.validatePools, (b) => {
      const req = parseValidatePoolsRequest(b);
      return validatePools(poolsFile, req.text, req.file);
    }],
    ['GET', API_PATHS.allocations, () => service.allocations()],
    ['POST', API_PATHS.releaseIp, (b) => {
      const req = parseReleaseIpRequest(b);
      return service.releaseIp(req.ip, req.force ?? false);
    }],
    ['POST', API_PATHS.collect, (b) => {
      const req = parseCollectRequest(b);
      return service.collect(req.graceMs, req.dryRun);
    }],
    ['GET', API_PATHS.healthz, async () => ({ ok: true })],
  ];
  const table = new Map<string, Map<string, Handler>>();
  for (const [method, path, handler] of list) {
    let methods = table.get(path);
    if (!methods) table.set(path, (methods = new Map()));
    methods.set(method, handler);
    // Node's server sends HEAD answers without their body.
    if (method === 'GET') methods.set('HEAD', handler);
  }
  return table;
}

export interface AgentServer {
  readonly server: Server;
  /**
   * Graceful stop: stops accepting connections at once (the socket file is
   * removed, so a client gets ENOENT), closes idle keep-alive connections,
   * answers every request in flight with `Connection: close`, and after
   * `timeoutMs` destroys the connections still busy. Resolves once every
   * connection is gone and, unless the bound was hit, every handler has
   * returned, so the store can be closed after it.
   */
  close(timeoutMs?: number): Promise<{ readonly destroyed: number }>;
}

/** The client went away while its request was being read; there is no one to answer. */
class ClientGone extends Error {}

/**
 * Serves the agent API on a unix socket that only root can use (mode 0600,
 * created under a restrictive umask so there is no window where it is open).
 * Refuses to start when another live agent already answers on the path.
 */
export async function startAgentServer(opts: {
  socketPath: string;
  service: IpamService;
  metrics: AgentMetrics;
  log: Logger;
  /** GET /v1/status; the service's own status by default. */
  status?: () => Promise<StatusResponse>;
  /** Standalone: the pools file, for POST /v1/pools/validate. */
  poolsFile?: PoolFileState | undefined;
}): Promise<AgentServer> {
  const table = routes(opts.service, opts.status ?? (() => opts.service.status()), opts.poolsFile);
  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 5_000;
  let draining = false;
  let forced = false;
  // Handlers still running, so the store is not closed under them.
  let running = 0;
  let idle: (() => void) | undefined;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // Connections whose request is being handled and not yet answered: handle() logs their hang-up, not clientError.
  const answering = new WeakSet<object>();
  // A client that sends broken HTTP, or hangs up in the middle of a request line or headers, never reaches handle().
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const reason = err.code ?? err.message;
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      if (!answering.has(socket)) opts.log.debug('connection closed before a complete request', { reason });
      socket.destroy();
      return;
    }
    opts.log.debug('malformed HTTP request', { reason });
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const e = new TidepoolError('INVALID_REQUEST', timedOut ? 'the request was not received in time' : `malformed HTTP request (${reason})`, { field: 'http' });
    const text = JSON.stringify({ error: e.toJSON() });
    socket.end(`HTTP/1.1 ${timedOut ? '408 Request Timeout' : '400 Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? '';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const methods = table.get(path);
    const handler = methods?.get(method);
    running++;
    answering.add(req.socket);
    res.once('finish', () => answering.delete(req.socket));
    // One line per hang-up, at debug: a client that gives up (a plugin's timeout, a CLI killed by ^C) is not the agent's fault.
    res.once('close', () => {
      if (!res.writableFinished) opts.log.debug('connection closed before the answer was sent', { method, path, by: forced ? 'shutdown' : 'client' });
    });
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    let payload: unknown;
    try {
      // Read the body even for a request that is refused: left unread, it would be parsed as the connection's next request.
      const body = await readJson(req);
      if (!methods) throw new TidepoolError('NOT_FOUND', `no route ${method} ${path}`, { path });
      if (!handler) {
        const allow = [...methods.keys()].sort();
        status = 405;
        headers['allow'] = allow.join(', ');
        throw new TidepoolError('INVALID_REQUEST', `${path} does not serve ${method}; it serves ${allow.join(', ')}`, { field: 'method', method, allow });
      }
      payload = await handler(body);
    } catch (err) {
      if (err instanceof ClientGone) {
        finished(499);
        return;
      }
      const e = toTidepoolError(err);
      // The table's status, except where HTTP itself says more (405 for a known path and a wrong method).
      if (status === 200) status = ERROR_TABLE[e.code].http;
      payload = { error: e.toJSON() };
      if (e.code === 'INTERNAL') opts.log.error('request failed', { path, err });
    }
    if (res.destroyed) {
      finished(499);
      return;
    }
    const text = JSON.stringify(payload);
    headers['content-length'] = Buffer.byteLength(text);
    // While draining, every answer is the connection's last, so it closes as soon as it is sent.
    if (draining) headers['connection'] = 'close';
    res.writeHead(status, headers);
    res.end(text);
    finished(status);

    function finished(code: number): void {
      const seconds = (performance.now() - started) / 1000;
      opts.metrics.request(handler ? path : 'unknown', code, seconds);
      opts.log.debug('request', { method, path, status: code, durationMs: Math.round(seconds * 1e6) / 1000 });
      if (--running === 0) idle?.();
    }
  }

  await prepareSocketPath(opts.socketPath);
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(opts.socketPath, 0o600);
  return {
    server,
    async close(timeoutMs = 0) {
      draining = true;
      // Node's close() also ends idle keep-alive connections; busy ones end after their answer (Connection: close).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const handlersDone = new Promise<void>((resolve) => {
        if (running === 0) resolve();
        else idle = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      const outcome = await Promise.race([Promise.all([closed, handlersDone]).then(() => 'drained' as const), bound]);
      clearTimeout(timer);
      if (outcome === 'drained') return { destroyed: 0 };
      forced = true;
      const destroyed = sockets.size;
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
      return { destroyed };
    },
  };
}

async function validatePools(poolsFile: PoolFileState | undefined, text: string, file: string): Promise<ValidatePoolsResponse> {
  if (!poolsFile) throw new TidepoolError('NOT_FOUND', 'this agent has no pools file: in a cluster, pools are IPPool objects and the admission webhook checks them', { path: API_PATHS.validatePools });
  const check = await poolsFile.check(text, file);
  if (!check.ok) return { valid: false, error: check.error.toJSON() };
  const { added, removed, changed, moves, orphaned } = check.plan;
  return { valid: true, pools: check.pools.map((p) => p.name), added, removed, changed, moves, orphaned: planOrphanGroups(orphaned) };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw new TidepoolError('INVALID_REQUEST', `request body is larger than ${MAX_BODY} bytes`, { field: 'body' });
      chunks.push(chunk);
    }
  } catch (err) {
    // The only other failure of reading is the connection going away ("aborted").
    if (err instanceof TidepoolError) throw err;
    throw new ClientGone((err as Error).message);
  }
  if (size === 0) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new TidepoolError('DECODE_FAILED', `request body is not valid JSON: ${(err as Error).message}`, { field: 'body' });
  }
}

/** Creates the socket's directory and removes a stale socket left by a dead agent. */
async function prepareSocketPath(path: string): Promise<void> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new TidepoolError('INVALID_CONFIG', `--socket ${path}: cannot create its directory ${dirname(path)}: ${(err as Error).message}`, { field: 'socket' });
  }
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isSocket()) throw new TidepoolError('INVALID_CONFIG', `--socket ${path} exists and is not a socket; refusing to replace it`, { field: 'socket' });
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new TidepoolError('INVALID_CONFIG', `another agent is already serving on ${path}`, { field: 'socket' });
  unlinkSync(path);
}
