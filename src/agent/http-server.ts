import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
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

/** Maps `METHOD path` to a handler; bodies are validated before the service sees them. */
function routes(service: IpamService, status: () => Promise<StatusResponse>, poolsFile: PoolFileState | undefined): Map<string, Handler> {
  return new Map<string, Handler>([
    [`POST ${API_PATHS.allocate}`, (b) => service.allocate(parseAllocateRequest(b))],
    [`POST ${API_PATHS.release}`, (b) => service.release(parseAttachmentRef(b))],
    [`POST ${API_PATHS.check}`, (b) => service.check(parseAttachmentRef(b))],
    [`POST ${API_PATHS.gc}`, (b) => service.gc(parseGcRequest(b))],
    [`POST ${API_PATHS.status}`, (b) => service.status(parseStatusRequest(b))],
    [`GET ${API_PATHS.status}`, status],
    [`GET ${API_PATHS.pools}`, async () => (await service.status()).pools],
    [`POST ${API_PATHS.validatePools}`, (b) => {
      const req = parseValidatePoolsRequest(b);
      return validatePools(poolsFile, req.text, req.file);
    }],
    [`GET ${API_PATHS.allocations}`, () => service.allocations()],
    [`POST ${API_PATHS.releaseIp}`, (b) => {
      const req = parseReleaseIpRequest(b);
      return service.releaseIp(req.ip, req.force ?? false);
    }],
    [`POST ${API_PATHS.collect}`, (b) => {
      const req = parseCollectRequest(b);
      return service.collect(req.graceMs, req.dryRun);
    }],
    [`GET ${API_PATHS.healthz}`, async () => ({ ok: true })],
  ]);
}

export interface AgentServer {
  readonly server: Server;
  close(): Promise<void>;
}

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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = table.get(`${req.method} ${path}`);
    let status = 200;
    let payload: unknown;
    try {
      if (!handler) throw new TidepoolError('NOT_FOUND', `no route ${req.method} ${path}`, { path });
      const body = await readJson(req);
      payload = await handler(body);
    } catch (err) {
      const e = toTidepoolError(err);
      status = ERROR_TABLE[e.code].http;
      payload = { error: e.toJSON() };
      if (e.code === 'INTERNAL') opts.log.error('request failed', { path, err });
    }
    const text = JSON.stringify(payload);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    const seconds = (performance.now() - started) / 1000;
    opts.metrics.request(handler ? path : 'unknown', status, seconds);
    opts.log.debug('request', { method: req.method, path, status, durationMs: Math.round(seconds * 1e6) / 1000 });
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
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
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new TidepoolError('INVALID_REQUEST', `request body is larger than ${MAX_BODY} bytes`, { field: 'body' });
    chunks.push(chunk);
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
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
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
