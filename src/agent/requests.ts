import { TidepoolError } from '../ipam/errors.ts';
import { DETECTION_TIMEOUT_MAX_MS, DETECTION_TIMEOUT_MIN_MS } from '../ipam/pool.ts';
import type { AllocateRequest, AttachmentRef, GcRequest, PodRef, ReleaseIpRequest, StatusRequest, ValidatePoolsRequest } from '../api/protocol.ts';

/**
 * Validation of agent API bodies. Every rejection is INVALID_REQUEST with a
 * message and `details.field` naming the offending field, so a caller never
 * has to guess which part of its request was wrong.
 */

type Obj = Record<string, unknown>;

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function fail(field: string, problem: string): never {
  throw new TidepoolError('INVALID_REQUEST', `${field} ${problem}`, { field });
}

function object(value: unknown, field: string, known: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be a JSON object');
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) fail(field === 'body' ? key : `${field}.${key}`, 'is not a known field');
  }
  return value as Obj;
}

// Stored strings are bounded and printable: they end up in the store, logs and CLI tables.
const CONTROL = /[\u0000-\u001f\u007f]/;

function str(o: Obj, key: string, field: string, opts: { optional?: boolean; allowEmpty?: boolean; max?: number } = {}): string | undefined {
  const v = o[key];
  if (v === undefined && opts.optional) return undefined;
  if (typeof v !== 'string') fail(field, v === undefined ? 'is required' : 'must be a string');
  if (!opts.allowEmpty && v === '') fail(field, 'must not be empty');
  const max = opts.max ?? 253;
  if (v.length > max) fail(field, `is ${v.length} characters long; at most ${max} are allowed`);
  if (CONTROL.test(v)) fail(field, 'must not contain control characters');
  return v;
}

function names(o: Obj, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) fail(key, 'must be an array of pool names');
  return v.map((item, i) => {
    if (typeof item !== 'string' || item === '') fail(`${key}[${i}]`, 'must be a non-empty string');
    return item;
  });
}

function attachment(value: unknown, field: string, extra: readonly string[] = []): AttachmentRef & Obj {
  const prefix = field === 'body' ? '' : `${field}.`;
  const o = object(value, field, ['containerId', 'ifname', ...extra]);
  const containerId = str(o, 'containerId', `${prefix}containerId`, { max: 1024 })!;
  if (!CONTAINER_ID.test(containerId)) fail(`${prefix}containerId`, `"${containerId}" must start with a letter or digit and hold only letters, digits, '_', '.', '-'`);
  const ifname = str(o, 'ifname', `${prefix}ifname`)!;
  if (ifname.length > 15 || ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname)) {
    fail(`${prefix}ifname`, `"${ifname}" is not a valid interface name (1-15 characters, no '/', ':' or spaces)`);
  }
  return { ...o, containerId, ifname };
}

function pod(value: unknown): PodRef | undefined {
  if (value === undefined) return undefined;
  const o = object(value, 'pod', ['namespace', 'name', 'uid']);
  return { namespace: str(o, 'namespace', 'pod.namespace')!, name: str(o, 'name', 'pod.name')!, uid: str(o, 'uid', 'pod.uid', { optional: true }) };
}

export function parseAllocateRequest(body: unknown): AllocateRequest {
  const o = attachment(body, 'body', ['netns', 'network', 'ipv4Pools', 'ipv6Pools', 'pod', 'cleanGateway', 'ipConflictDetection', 'gatewayDetection', 'detectionTimeoutMs']);
  const flag = (key: string): boolean | undefined => {
    const v = o[key];
    if (v !== undefined && typeof v !== 'boolean') fail(key, 'must be a boolean');
    return v as boolean | undefined;
  };
  const timeout = o['detectionTimeoutMs'];
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < DETECTION_TIMEOUT_MIN_MS || timeout > DETECTION_TIMEOUT_MAX_MS)) {
    fail('detectionTimeoutMs', `must be an integer number of milliseconds from ${DETECTION_TIMEOUT_MIN_MS} to ${DETECTION_TIMEOUT_MAX_MS}`);
  }
  return {
    cleanGateway: flag('cleanGateway'),
    ipConflictDetection: flag('ipConflictDetection'),
    gatewayDetection: flag('gatewayDetection'),
    detectionTimeoutMs: timeout as number | undefined,
    containerId: o.containerId,
    ifname: o.ifname,
    netns: str(o, 'netns', 'netns', { allowEmpty: true, max: 4096 })!,
    network: str(o, 'network', 'network', { optional: true, allowEmpty: true }),
    ipv4Pools: names(o, 'ipv4Pools'),
    ipv6Pools: names(o, 'ipv6Pools'),
    pod: pod(o['pod']),
  };
}

export function parseAttachmentRef(body: unknown): AttachmentRef {
  const o = attachment(body, 'body');
  return { containerId: o.containerId, ifname: o.ifname };
}

export function parseGcRequest(body: unknown): GcRequest {
  const o = object(body, 'body', ['network', 'validAttachments']);
  const list = o['validAttachments'];
  if (!Array.isArray(list)) fail('validAttachments', list === undefined ? 'is required' : 'must be an array');
  return { network: str(o, 'network', 'network', { allowEmpty: true })!, validAttachments: list.map((a, i) => parseAttachmentAt(a, `validAttachments[${i}]`)) };
}

function parseAttachmentAt(value: unknown, field: string): AttachmentRef {
  const o = attachment(value, field);
  return { containerId: o.containerId, ifname: o.ifname };
}

export function parseStatusRequest(body: unknown): StatusRequest {
  const o = object(body ?? {}, 'body', ['ipv4Pools', 'ipv6Pools']);
  return { ipv4Pools: names(o, 'ipv4Pools'), ipv6Pools: names(o, 'ipv6Pools') };
}

export function parseReleaseIpRequest(body: unknown): ReleaseIpRequest {
  const o = object(body, 'body', ['ip', 'force']);
  const force = o['force'];
  if (force !== undefined && typeof force !== 'boolean') fail('force', 'must be a boolean');
  return { ip: str(o, 'ip', 'ip')!, force };
}

export function parseCollectRequest(body: unknown): { graceMs?: number; dryRun?: boolean } {
  const o = object(body ?? {}, 'body', ['graceMs', 'dryRun']);
  const grace = o['graceMs'];
  const dryRun = o['dryRun'];
  if (dryRun !== undefined && typeof dryRun !== 'boolean') fail('dryRun', 'must be a boolean');
  if (grace !== undefined && (typeof grace !== 'number' || !Number.isFinite(grace) || grace < 0)) fail('graceMs', 'must be a non-negative number of milliseconds');
  return { ...(grace !== undefined ? { graceMs: grace as number } : {}), ...(dryRun !== undefined ? { dryRun } : {}) };
}

export function parseValidatePoolsRequest(body: unknown): ValidatePoolsRequest {
  const o = object(body, 'body', ['file', 'text']);
  const text = o['text'];
  if (typeof text !== 'string') fail('text', text === undefined ? 'is required' : 'must be a string');
  return { file: str(o, 'file', 'file', { max: 4096 })!, text };
}
