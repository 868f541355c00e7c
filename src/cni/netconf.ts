/**
 * Decodes and validates the network configuration the runtime writes on
 * stdin. Only `cniVersion`, `name`, `ipam`, the GC attachment list and
 * CHECK's `prevResult` are read; every other top-level key (the main
 * plugin's own settings, `runtimeConfig`, `args`, ...) is ignored.
 */
import type { AttachmentRef } from '../api/protocol.ts';
import { DEFAULT_SOCKET } from '../api/protocol.ts';
import { TidepoolError } from '../ipam/errors.ts';
import { explainContainerId, explainIfname } from './env.ts';
import { SUPPORTED_VERSIONS, isSupportedVersion, verbAllowed, verbSince } from './versions.ts';
import type { CniVersion, Verb } from './versions.ts';

/** Applied when ipam.timeoutMs is absent. */
export const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 600_000;
// sun_path is 108 bytes including the terminating NUL.
const MAX_SOCKET_BYTES = 107;

/** The validated `ipam` object; absent pool lists stay undefined so the agent applies its default pool. */
export interface IpamConfig {
  readonly type: string;
  readonly socket: string;
  readonly ipv4Pools: readonly string[] | undefined;
  readonly ipv6Pools: readonly string[] | undefined;
  readonly timeoutMs: number;
  /** DEL fails with code 11 instead of succeeding when the agent is unreachable. */
  readonly strictDel: boolean;
  /** `clean_gateway`: no default route through the pools' gateways; undefined leaves it to the pod and pools. */
  readonly cleanGateway: boolean | undefined;
  /** Detection settings of this network; undefined leaves them to the pool and the node. */
  readonly ipConflictDetection: boolean | undefined;
  readonly gatewayDetection: boolean | undefined;
  readonly detectionTimeoutMs: number | undefined;
}

/** A validated config: every field present is well-formed, defaults applied. */
export interface NetConf {
  readonly cniVersion: CniVersion;
  readonly name: string;
  readonly ipam: IpamConfig;
  /** GC only: the attachments the runtime still uses. */
  readonly validAttachments: readonly AttachmentRef[] | undefined;
  /** CHECK only: the addresses `prevResult.ips` lists, when it lists any. */
  readonly prevAddresses: readonly string[] | undefined;
}

/** A decoded JSON object, not yet validated. */
export type JsonObject = Record<string, unknown>;

const IPAM_FIELDS = new Set(['type', 'socket', 'ipv4Pools', 'ipv6Pools', 'timeoutMs', 'strictDel', 'clean_gateway', 'ipConflictDetection', 'gatewayDetection', 'detectionTimeoutMs']);
// The agent enforces the same bounds (src/ipam/pool.ts); the plugin may not import them, so they are repeated here.
const DETECTION_TIMEOUT_MAX_MS = 2000;
const VALID_ATTACHMENTS = 'cni.dev/valid-attachments';
// Spelling used by early drafts of the 1.1.0 spec; some runtimes still send it.
const OLD_ATTACHMENTS = 'cni.dev/attachments';

function invalid(field: string, message: string): TidepoolError {
  return new TidepoolError('INVALID_CONFIG', message, { field });
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses stdin as a JSON object. Throws DECODE_FAILED for bytes that are not
 * JSON and INVALID_CONFIG for JSON that is not an object.
 */
export function decodeNetconf(text: string): JsonObject {
  if (text.trim() === '') throw new TidepoolError('DECODE_FAILED', 'the network configuration on stdin is empty');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TidepoolError('DECODE_FAILED', `the network configuration on stdin is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw invalid('', 'the network configuration must be a JSON object');
  return doc;
}

/** The config's cniVersion when it is one tidepool speaks, so errors can answer in it. */
export function peekVersion(doc: JsonObject | undefined): CniVersion | undefined {
  const v = doc?.['cniVersion'];
  return isSupportedVersion(v) ? v : undefined;
}

function parsePools(ipam: JsonObject, key: 'ipv4Pools' | 'ipv6Pools'): readonly string[] | undefined {
  const raw = ipam[key];
  if (raw === undefined) return undefined;
  const field = `ipam.${key}`;
  if (!Array.isArray(raw)) throw invalid(field, `${field} must be an array of pool names`);
  if (raw.length === 0) throw invalid(field, `${field} must not be empty (omit it to use the default pool)`);
  const seen = new Map<string, number>();
  raw.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || name.trim() === '') throw invalid(`${field}[${i}]`, `${field}[${i}] must be a non-empty string`);
    const first = seen.get(name);
    if (first !== undefined) throw invalid(`${field}[${i}]`, `${field}[${i}] repeats ${field}[${first}] (${JSON.stringify(name)})`);
    seen.set(name, i);
  });
  return raw as string[];
}

/** Validates the `ipam` object; throws INVALID_CONFIG naming the first bad field. */
export function parseIpam(raw: unknown): IpamConfig {
  if (raw === undefined) throw invalid('ipam', 'ipam is required');
  if (!isObject(raw)) throw invalid('ipam', 'ipam must be an object');
  for (const key of Object.keys(raw)) {
    if (!IPAM_FIELDS.has(key)) throw invalid(`ipam.${key}`, `ipam.${key} is not a known field`);
  }

  const type = raw['type'];
  // Not compared with "tidepool": the runtime found this binary by that name, whatever it is.
  if (typeof type !== 'string' || type === '') throw invalid('ipam.type', 'ipam.type must be a non-empty string');

  const socket = raw['socket'] ?? DEFAULT_SOCKET;
  if (typeof socket !== 'string') throw invalid('ipam.socket', 'ipam.socket must be a string');
  if (!socket.startsWith('/')) throw invalid('ipam.socket', 'ipam.socket must be an absolute path');
  if (socket.includes('\0')) throw invalid('ipam.socket', 'ipam.socket must not contain NUL');
  if (Buffer.byteLength(socket) > MAX_SOCKET_BYTES) {
    throw invalid('ipam.socket', `ipam.socket must be at most ${MAX_SOCKET_BYTES} bytes (a unix socket path limit)`);
  }

  const timeoutMs = raw['timeoutMs'] ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw invalid('ipam.timeoutMs', `ipam.timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }

  const strictDel = raw['strictDel'] ?? false;
  if (typeof strictDel !== 'boolean') throw invalid('ipam.strictDel', 'ipam.strictDel must be a boolean');
  const optionalBoolean = (key: string): boolean | undefined => {
    const v = raw[key];
    if (v !== undefined && typeof v !== 'boolean') throw invalid(`ipam.${key}`, `ipam.${key} must be a boolean`);
    return v as boolean | undefined;
  };
  const detectionTimeoutMs = raw['detectionTimeoutMs'];
  if (detectionTimeoutMs !== undefined && (typeof detectionTimeoutMs !== 'number' || !Number.isInteger(detectionTimeoutMs) || detectionTimeoutMs < 1 || detectionTimeoutMs > DETECTION_TIMEOUT_MAX_MS)) {
    throw invalid('ipam.detectionTimeoutMs', `ipam.detectionTimeoutMs must be an integer number of milliseconds from 1 to ${DETECTION_TIMEOUT_MAX_MS}`);
  }

  return {
    type,
    socket,
    ipv4Pools: parsePools(raw, 'ipv4Pools'),
    ipv6Pools: parsePools(raw, 'ipv6Pools'),
    timeoutMs,
    strictDel,
    cleanGateway: optionalBoolean('clean_gateway'),
    ipConflictDetection: optionalBoolean('ipConflictDetection'),
    gatewayDetection: optionalBoolean('gatewayDetection'),
    detectionTimeoutMs: detectionTimeoutMs as number | undefined,
  };
}

/**
 * The GC keep-list. Absent is an error rather than "keep nothing": reading
 * it as empty would release every allocation on the node.
 */
export function parseValidAttachments(doc: JsonObject): readonly AttachmentRef[] {
  const key = doc[VALID_ATTACHMENTS] !== undefined ? VALID_ATTACHMENTS : OLD_ATTACHMENTS;
  const raw = doc[key];
  if (raw === undefined) throw invalid(VALID_ATTACHMENTS, `${VALID_ATTACHMENTS} is required for GC`);
  if (!Array.isArray(raw)) throw invalid(key, `${key} must be an array`);
  return raw.map((item: unknown, i): AttachmentRef => {
    const at = `${key}[${i}]`;
    if (!isObject(item)) throw invalid(at, `${at} must be an object with containerID and ifname`);
    const containerId = item['containerID'];
    if (typeof containerId !== 'string') throw invalid(`${at}.containerID`, `${at}.containerID must be a string`);
    const idProblem = explainContainerId(containerId);
    if (idProblem) throw invalid(`${at}.containerID`, `${at}.containerID ${idProblem}`);
    const ifname = item['ifname'];
    if (typeof ifname !== 'string') throw invalid(`${at}.ifname`, `${at}.ifname must be a string`);
    const ifProblem = explainIfname(ifname);
    if (ifProblem) throw invalid(`${at}.ifname`, `${at}.ifname ${ifProblem}`);
    return { containerId, ifname };
  });
}

/**
 * CHECK compares against prevResult, but a runtime may send none or one in
 * an older shape; only well-formed addresses are taken, anything else means
 * "nothing to compare".
 */
function planPrevAddresses(doc: JsonObject): readonly string[] | undefined {
  const prev = doc['prevResult'];
  if (!isObject(prev) || !Array.isArray(prev['ips'])) return undefined;
  const addresses: string[] = [];
  for (const ip of prev['ips'] as unknown[]) {
    if (isObject(ip) && typeof ip['address'] === 'string') addresses.push(ip['address']);
  }
  return addresses.length > 0 ? addresses : undefined;
}

/** Throws INCOMPATIBLE_VERSION unless the config's version is supported and defines `verb`. */
export function parseVersion(doc: JsonObject, verb: Verb): CniVersion {
  const v = doc['cniVersion'];
  if (typeof v !== 'string' || v === '') throw invalid('cniVersion', 'cniVersion must be a non-empty string');
  if (!isSupportedVersion(v)) {
    throw new TidepoolError('INCOMPATIBLE_VERSION', `cniVersion ${JSON.stringify(v)} is not supported; tidepool supports ${SUPPORTED_VERSIONS.join(', ')}`, {
      cniVersion: v,
    });
  }
  if (!verbAllowed(verb, v)) {
    throw new TidepoolError('INCOMPATIBLE_VERSION', `cniVersion ${v} does not define ${verb}; it needs cniVersion ${verbSince(verb)} or later`, {
      cniVersion: v,
      verb,
    });
  }
  return v;
}

/**
 * Validates everything `verb` needs from the config. Errors: INCOMPATIBLE_VERSION
 * (code 1) for the version, INVALID_CONFIG (code 7) naming the field otherwise.
 */
export function parseNetconf(doc: JsonObject, verb: Verb): NetConf {
  const cniVersion = parseVersion(doc, verb);
  const name = doc['name'];
  if (typeof name !== 'string' || name === '') throw invalid('name', 'name must be a non-empty string');
  const ipam = parseIpam(doc['ipam']);
  return {
    cniVersion,
    name,
    ipam,
    validAttachments: verb === 'GC' ? parseValidAttachments(doc) : undefined,
    prevAddresses: verb === 'CHECK' ? planPrevAddresses(doc) : undefined,
  };
}
