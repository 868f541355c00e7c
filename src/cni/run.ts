/**
 * One plugin invocation, independent of the process: main.ts passes the
 * real environment and streams, tests pass strings and buffers.
 */
import { API_PATHS } from '../api/protocol.ts';
import type { AllocateRequest, AllocateResponse, AttachmentRef, GcRequest, PoolStatus, ReleaseResponse, StatusRequest, StatusResponse } from '../api/protocol.ts';
import { TidepoolError, toTidepoolError } from '../ipam/errors.ts';
import { createAgentClient } from './agent-client.ts';
import type { AgentClient } from './agent-client.ts';
import { parseCniEnv, parseCommand } from './env.ts';
import type { Env } from './env.ts';
import { decodeNetconf, parseNetconf, peekVersion } from './netconf.ts';
import type { JsonObject, NetConf } from './netconf.ts';
import { planError, planResult, planVersionResult } from './result.ts';
import { LATEST_VERSION } from './versions.ts';

/** Bigger configs are refused: a runaway writer must not make the plugin buffer without bound. */
export const STDIN_LIMIT = 1024 * 1024;

/** Where run() writes; writes must be complete when the call returns (main.ts uses writeSync). */
export interface TextSink {
  write(text: string): unknown;
}

/** stdin as a whole string or buffer, or as chunks (read only up to STDIN_LIMIT + one chunk). */
export type StdinSource = string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Everything one invocation touches besides the agent socket. */
export interface RunIo {
  readonly env: Env;
  readonly stdin: StdinSource;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
}

/** Reads all of `source` as UTF-8; throws DECODE_FAILED past `limit` bytes or for invalid UTF-8. */
export async function readInput(source: StdinSource, limit = STDIN_LIMIT): Promise<string> {
  const tooBig = (): TidepoolError =>
    new TidepoolError('DECODE_FAILED', `the network configuration on stdin exceeds ${limit} bytes`, { limit });
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    if (Buffer.byteLength(source) > limit) throw tooBig();
    return source;
  } else if (source instanceof Uint8Array) {
    bytes = source;
    if (bytes.length > limit) throw tooBig();
  } else {
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of source) {
        total += chunk.length;
        // Stop reading at once: the rest could be unbounded.
        if (total > limit) throw tooBig();
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof TidepoolError) throw err;
      throw new TidepoolError('IO_FAILURE', `reading the network configuration from stdin failed: ${(err as Error).message}`);
    }
    bytes = Buffer.concat(chunks);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TidepoolError('DECODE_FAILED', 'the network configuration on stdin is not valid UTF-8');
  }
}

/** VERSION must answer even for a config it cannot use, so it only peeks at cniVersion. */
function planVersionEcho(text: string): string {
  try {
    const doc: unknown = JSON.parse(text);
    const v = (doc as { cniVersion?: unknown } | null)?.cniVersion;
    if (typeof v === 'string' && v !== '') return v;
  } catch {
    // Empty or unparsable stdin: answer with the latest version.
  }
  return LATEST_VERSION;
}

/**
 * The families whose pools (those the config lists, else the agent's
 * defaults) are all full or disabled: ADD needs one IP of each family, so
 * one such family is enough to make ADD fail.
 */
export function planExhaustedPools(pools: readonly PoolStatus[], request: StatusRequest): readonly PoolStatus[] {
  const listed = new Set([...(request.ipv4Pools ?? []), ...(request.ipv6Pools ?? [])]);
  const relevant = pools.filter((p) => (listed.size > 0 ? listed.has(p.name) : p.default));
  const exhausted: PoolStatus[] = [];
  for (const family of [4, 6] as const) {
    const ofFamily = relevant.filter((p) => p.family === family);
    if (ofFamily.length > 0 && ofFamily.every((p) => p.disabled || p.free === '0')) exhausted.push(...ofFamily);
  }
  return exhausted;
}

function isAllocateResponse(value: unknown): value is AllocateResponse {
  const v = value as Partial<AllocateResponse> | null;
  return typeof v === 'object' && v !== null && Array.isArray(v.ips) && Array.isArray(v.routes);
}

function unexpectedShape(path: string): TidepoolError {
  return new TidepoolError('IO_FAILURE', `the agent's answer to ${path} does not have the expected shape`, { path });
}

async function add(client: AgentClient, conf: NetConf, req: AllocateRequest, io: RunIo): Promise<number> {
  const response = await client.post<unknown>(API_PATHS.allocate, req);
  if (!isAllocateResponse(response)) throw unexpectedShape(API_PATHS.allocate);
  io.stdout.write(JSON.stringify(planResult(conf.cniVersion, response)) + '\n');
  return 0;
}

async function del(client: AgentClient, conf: NetConf, ref: AttachmentRef, io: RunIo): Promise<number> {
  try {
    await client.post<ReleaseResponse>(API_PATHS.release, ref);
  } catch (err) {
    const e = toTidepoolError(err);
    // DEL of something never allocated (or already released) is a success per the spec.
    if (e.code === 'UNKNOWN_CONTAINER' || e.code === 'NOT_FOUND') return 0;
    if (e.code === 'AGENT_UNREACHABLE' && !conf.ipam.strictDel) {
      // Failing would wedge pod teardown on a dead agent; the garbage collector reclaims the IP instead.
      io.stderr.write(`tidepool: warning: DEL ${ref.containerId}/${ref.ifname} not released now: ${e.message}; garbage collection will reclaim it\n`);
      return 0;
    }
    throw e;
  }
  return 0;
}

async function check(client: AgentClient, conf: NetConf, ref: AttachmentRef): Promise<number> {
  const response = await client.post<unknown>(API_PATHS.check, ref);
  if (!isAllocateResponse(response)) throw unexpectedShape(API_PATHS.check);
  const expected = conf.prevAddresses;
  if (expected) {
    const missing = response.ips.filter((ip) => !expected.includes(ip.address));
    const first = missing[0];
    if (first) {
      throw new TidepoolError(
        'INVALID_CONFIG',
        `prevResult.ips does not list ${first.address}, which tidepool holds for ${ref.containerId}/${ref.ifname} in pool ${first.pool}`,
        { field: 'prevResult.ips', address: first.address, pool: first.pool },
      );
    }
  }
  return 0;
}

async function status(client: AgentClient, conf: NetConf): Promise<number> {
  const socket = conf.ipam.socket;
  const request: StatusRequest = { ipv4Pools: conf.ipam.ipv4Pools, ipv6Pools: conf.ipam.ipv6Pools };
  let response: StatusResponse;
  try {
    response = await client.post<StatusResponse>(API_PATHS.status, request);
  } catch (err) {
    const e = toTidepoolError(err);
    if (e.code === 'AGENT_UNREACHABLE' || e.code === 'IO_FAILURE' || e.code === 'AGENT_STOPPING') {
      throw new TidepoolError('AGENT_NOT_READY', e.message, { ...e.details, socket, cause: e.code });
    }
    throw e;
  }
  if (typeof response !== 'object' || response === null || !Array.isArray(response.pools)) throw unexpectedShape(API_PATHS.status);
  if (response.ready !== true) throw new TidepoolError('AGENT_NOT_READY', `the tidepool agent at ${socket} is not ready`, { socket });
  const exhausted = planExhaustedPools(response.pools, request);
  if (exhausted.length > 0) {
    const names = exhausted.map((p) => p.name);
    throw new TidepoolError('POOLS_EXHAUSTED', `no free IP in pool${names.length > 1 ? 's' : ''} ${names.join(', ')}`, { pools: names });
  }
  return 0;
}

/**
 * Runs one CNI invocation and resolves with the exit code (0 or 1). Never
 * rejects: every failure becomes a CNI error object on stdout, in the
 * config's cniVersion when known, else the latest. DEL writes warnings to
 * stderr; nothing else does.
 */
export async function run(io: RunIo): Promise<number> {
  let errorVersion: string = LATEST_VERSION;
  try {
    const text = await readInput(io.stdin);
    let doc: JsonObject | undefined;
    let docError: unknown;
    try {
      doc = decodeNetconf(text);
    } catch (err) {
      docError = err;
    }
    errorVersion = peekVersion(doc) ?? LATEST_VERSION;

    const command = parseCommand(io.env);
    if (command === 'VERSION') {
      io.stdout.write(JSON.stringify(planVersionResult(planVersionEcho(text))) + '\n');
      return 0;
    }
    const env = parseCniEnv(io.env, command);
    if (doc === undefined) throw docError;
    const conf = parseNetconf(doc, command);
    const client = createAgentClient(conf.ipam);

    switch (env.command) {
      case 'ADD':
        return await add(
          client,
          conf,
          {
            containerId: env.containerId,
            ifname: env.ifname,
            netns: env.netns,
            network: conf.name,
            ipv4Pools: conf.ipam.ipv4Pools,
            ipv6Pools: conf.ipam.ipv6Pools,
            pod: env.pod,
            cleanGateway: conf.ipam.cleanGateway,
            ipConflictDetection: conf.ipam.ipConflictDetection,
            gatewayDetection: conf.ipam.gatewayDetection,
            detectionTimeoutMs: conf.ipam.detectionTimeoutMs,
          },
          io,
        );
      case 'DEL':
        return await del(client, conf, { containerId: env.containerId, ifname: env.ifname }, io);
      case 'CHECK':
        return await check(client, conf, { containerId: env.containerId, ifname: env.ifname });
      case 'STATUS':
        return await status(client, conf);
      case 'GC':
        await client.post<ReleaseResponse>(API_PATHS.gc, { network: conf.name, validAttachments: conf.validAttachments ?? [] } satisfies GcRequest);
        return 0;
      case 'VERSION':
        // Answered above, before any config validation.
        return 0;
    }
  } catch (err) {
    io.stdout.write(JSON.stringify(planError(errorVersion, toTidepoolError(err))) + '\n');
    return 1;
  }
}
