/**
 * The validating webhook's decisions, as pure functions of the
 * AdmissionReview and what the cluster holds. Pool rules are planPool's and
 * planPools' own, so a pool is refused in the cluster with exactly the
 * message the standalone pool file gets.
 */
import { parseAddress, type Address } from '../ipam/address.ts';
import { toTidepoolError } from '../ipam/errors.ts';
import { planPool, planPools, type Pool } from '../ipam/pool.ts';
import { parseRangeSpec, rangesContain } from '../ipam/range.ts';
import { validateRecord, TIDEPOOL_GROUP } from '../api/crd-schemas.ts';
import { LABEL_STATE } from '../store/kubernetes.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export type AdmissionOperation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** The parts of an admission.k8s.io/v1 AdmissionRequest the webhook reads. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly resource: { readonly group: string; readonly version: string; readonly resource: string };
  readonly subResource?: string;
  readonly name: string;
  readonly operation: AdmissionOperation;
  readonly object: unknown;
  readonly oldObject: unknown;
}

/** The answer: allowed, or refused with an HTTP-style code, a Status reason and a message for the user. */
export type AdmissionDecision =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly code: number; readonly reason: string; readonly message: string };

/** What the cluster holds, as far as one decision needs it. */
export interface AdmissionContext {
  /** Every IPPool object (a cache is fine); the reviewed pool's stored version is ignored by name. */
  readonly pools: readonly unknown[];
  /** The IPAllocation objects of the reviewed pool, when admissionAllocationsPool asked for them. */
  readonly allocations?: readonly unknown[];
}

/** How many held IPs a refusal lists before `and N more`. */
const MAX_LISTED = 3;

const ALLOWED: AdmissionDecision = { allowed: true };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function invalid(message: string): AdmissionDecision {
  return { allowed: false, code: 422, reason: 'Invalid', message };
}

function forbidden(message: string): AdmissionDecision {
  return { allowed: false, code: 403, reason: 'Forbidden', message };
}

const OPERATIONS: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

/**
 * Reads an AdmissionReview body. Returns the request, or a text naming what
 * is wrong (the server answers 400 with it).
 */
export function parseAdmissionReview(body: unknown): AdmissionRequest | string {
  if (!isRecord(body)) return 'body must be a JSON AdmissionReview object';
  if (body['apiVersion'] !== ADMISSION_API_VERSION) return `apiVersion must be ${JSON.stringify(ADMISSION_API_VERSION)}, got ${JSON.stringify(body['apiVersion'] ?? null)}`;
  if (body['kind'] !== 'AdmissionReview') return `kind must be "AdmissionReview", got ${JSON.stringify(body['kind'] ?? null)}`;
  const r = body['request'];
  if (!isRecord(r)) return 'request is missing';
  if (typeof r['uid'] !== 'string' || r['uid'] === '') return 'request.uid is missing';
  const resource = r['resource'];
  if (!isRecord(resource) || typeof resource['group'] !== 'string' || typeof resource['version'] !== 'string' || typeof resource['resource'] !== 'string') {
    return 'request.resource must have group, version and resource';
  }
  const op = r['operation'];
  if (typeof op !== 'string' || !OPERATIONS.includes(op)) return `request.operation must be one of ${OPERATIONS.join(', ')}, got ${JSON.stringify(op ?? null)}`;
  const subResource = typeof r['subResource'] === 'string' && r['subResource'] !== '' ? r['subResource'] : undefined;
  return {
    uid: r['uid'],
    resource: { group: resource['group'], version: resource['version'], resource: resource['resource'] },
    ...(subResource === undefined ? {} : { subResource }),
    name: typeof r['name'] === 'string' ? r['name'] : '',
    operation: op as AdmissionOperation,
    object: r['object'] ?? undefined,
    oldObject: r['oldObject'] ?? undefined,
  };
}

/** The AdmissionReview the webhook answers with. */
export function planAdmissionResponse(uid: string, decision: AdmissionDecision): object {
  const response = decision.allowed
    ? { uid, allowed: true }
    : { uid, allowed: false, status: { status: 'Failure', code: decision.code, reason: decision.reason, message: decision.message } };
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

function reviewed(req: AdmissionRequest): 'ippools' | 'reservedips' | undefined {
  if (req.resource.group !== TIDEPOOL_GROUP || req.subResource !== undefined) return undefined;
  if (req.resource.resource === 'ippools' || req.resource.resource === 'reservedips') return req.resource.resource;
  return undefined;
}

function nameOf(obj: unknown): string | undefined {
  const metadata = isRecord(obj) ? obj['metadata'] : undefined;
  const name = isRecord(metadata) ? metadata['name'] : undefined;
  return typeof name === 'string' ? name : undefined;
}

function specOf(obj: unknown): unknown {
  return isRecord(obj) ? obj['spec'] : undefined;
}

/** Structural equality of JSON values (key order does not matter). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson(a[k], b[k]));
}

/** Whether the decision needs every IPPool (IPPool CREATE, and UPDATEs that change the spec), so the caller reads them only then. */
export function admissionNeedsPools(req: AdmissionRequest): boolean {
  if (reviewed(req) !== 'ippools') return false;
  return req.operation === 'CREATE' || (req.operation === 'UPDATE' && !sameJson(specOf(req.object), specOf(req.oldObject)));
}

/**
 * The pool whose IPAllocations the decision needs (IPPool UPDATE and
 * DELETE), so the caller fetches them only then; undefined otherwise.
 */
export function admissionAllocationsPool(req: AdmissionRequest): string | undefined {
  if (reviewed(req) !== 'ippools') return undefined;
  if (req.operation === 'DELETE') return req.name || nameOf(req.oldObject);
  if (req.operation === 'UPDATE' && !sameJson(specOf(req.object), specOf(req.oldObject))) return req.name || nameOf(req.object);
  return undefined;
}

/** Decides one AdmissionRequest; anything tidepool does not guard is allowed. */
export function planAdmission(req: AdmissionRequest, ctx: AdmissionContext): AdmissionDecision {
  switch (reviewed(req)) {
    case 'ippools':
      if (req.operation === 'CREATE') return planPoolWrite(req.object, ctx, undefined);
      if (req.operation === 'UPDATE') {
        // Metadata-only changes (labels, finalizers) must not be blocked by a pool that was stored before this webhook existed.
        if (sameJson(specOf(req.object), specOf(req.oldObject))) return ALLOWED;
        return planPoolWrite(req.object, ctx, ctx.allocations ?? []);
      }
      if (req.operation === 'DELETE') return planPoolDelete(req.name || nameOf(req.oldObject) || '', ctx.allocations ?? []);
      return ALLOWED;
    case 'reservedips':
      return req.operation === 'CREATE' || req.operation === 'UPDATE' ? planReservedIPWrite(req.object) : ALLOWED;
    default:
      return ALLOWED;
  }
}

function planPoolWrite(obj: unknown, ctx: AdmissionContext, allocations: readonly unknown[] | undefined): AdmissionDecision {
  let pool: Pool;
  try {
    pool = planPool(obj);
  } catch (err) {
    return invalid(toTidepoolError(err).message);
  }
  // Pools stored before the webhook existed may be invalid; they must not block every other pool, so they are left out.
  const others = ctx.pools
    .filter((p) => nameOf(p) !== pool.name)
    .filter((p) => {
      try {
        planPool(p);
        return true;
      } catch {
        return false;
      }
    })
    .sort((a, b) => ((nameOf(a) ?? '') < (nameOf(b) ?? '') ? -1 : 1));
  try {
    planPools([...others, obj]);
  } catch (err) {
    return invalid(toTidepoolError(err).message);
  }
  if (allocations !== undefined) {
    const dropped = heldIps(allocations, pool.name).filter((h) => !inPool(pool, h.address));
    if (dropped.length > 0) {
      const listed = dropped.slice(0, MAX_LISTED).map((h) => `${h.ip} (held by ${h.holder})`);
      const more = dropped.length > MAX_LISTED ? ` and ${dropped.length - MAX_LISTED} more` : '';
      const them = dropped.length === 1 ? 'it' : 'them';
      return forbidden(`pool ${JSON.stringify(pool.name)}: spec change would drop ${listed.join(', ')}${more}; release ${them} first`);
    }
  }
  return ALLOWED;
}

function planPoolDelete(name: string, allocations: readonly unknown[]): AdmissionDecision {
  const held = heldIps(allocations, name);
  if (held.length === 0) return ALLOWED;
  const listed = held.slice(0, MAX_LISTED).map((h) => `${h.short} ${h.ip}`);
  const more = held.length > MAX_LISTED ? ` and ${held.length - MAX_LISTED} more` : '';
  const count = held.length === 1 ? '1 allocated IP' : `${held.length} allocated IPs`;
  const pods = held.length === 1 ? 'that pod' : 'those pods';
  return forbidden(
    `pool ${JSON.stringify(name)} still has ${count} (${listed.join(', ')}${more}); delete ${pods} first or drain the pool with spec.disable: true`,
  );
}

function planReservedIPWrite(obj: unknown): AdmissionDecision {
  const who = `ReservedIP ${JSON.stringify(nameOf(obj) ?? '')}`;
  const problems = validateRecord('ReservedIP', obj);
  if (problems.length > 0) return invalid(`${who}: ${problems.join('; ')}`);
  const ips = (specOf(obj) as { ips: string[] }).ips;
  for (const [i, text] of ips.entries()) {
    if (parseRangeSpec(text) === undefined) return invalid(`${who}: spec.ips[${i}] ${JSON.stringify(text)} is not an IP or an a-b range`);
  }
  return ALLOWED;
}

/** An IP of the reviewed pool that someone holds. */
interface HeldIp {
  readonly ip: string;
  readonly address: Address | undefined;
  /** `pod default/web-0`, or the CNI attachment when no pod was recorded. */
  readonly holder: string;
  /** `default/web-0`, or the attachment. */
  readonly short: string;
}

/** An IPAllocation counts as allocated while it has an owner or says so in its state label: refusing on either is the safe side. */
export function isAllocated(obj: unknown): boolean {
  if (!isRecord(obj)) return false;
  const spec = obj['spec'];
  if (isRecord(spec) && isRecord(spec['owner'])) return true;
  const metadata = obj['metadata'];
  const labels = isRecord(metadata) ? metadata['labels'] : undefined;
  return isRecord(labels) && labels[LABEL_STATE] === 'allocated';
}

function heldIps(allocations: readonly unknown[], pool: string): HeldIp[] {
  const out: HeldIp[] = [];
  for (const obj of allocations) {
    if (!isAllocated(obj)) continue;
    const spec = (obj as { spec?: unknown }).spec;
    if (!isRecord(spec) || spec['pool'] !== pool || typeof spec['ip'] !== 'string') continue;
    const owner = isRecord(spec['owner']) ? spec['owner'] : {};
    const str = (k: string) => (typeof owner[k] === 'string' ? owner[k] : undefined);
    const podNs = str('podNamespace');
    const podName = str('podName');
    let short: string;
    let holder: string;
    if (podNs !== undefined && podName !== undefined) {
      short = `${podNs}/${podName}`;
      holder = `pod ${short}`;
    } else {
      const container = (str('containerId') ?? 'unknown').slice(0, 12);
      short = `container ${container}/${str('ifname') ?? '?'} on ${str('node') ?? 'unknown node'}`;
      holder = short;
    }
    out.push({ ip: spec['ip'], address: parseAddress(spec['ip']), holder, short });
  }
  return out.sort((a, b) => {
    if (a.address && b.address && a.address.family === b.address.family) return a.address.value < b.address.value ? -1 : a.address.value > b.address.value ? 1 : 0;
    return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0;
  });
}

function inPool(pool: Pool, address: Address | undefined): boolean {
  return address !== undefined && address.family === pool.family && rangesContain(pool.ranges, address.value);
}
