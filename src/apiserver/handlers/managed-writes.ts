// How create, update and patch keep metadata.managedFields, as the real
// server does for every write: the manager is the request's `fieldManager`,
// else its user agent up to the first `/` (tidepool's own clients send
// `tidepool-agent/<node>`, `tidepool-controller/<id>`, `tidepool-cli`), else
// `unknown`; a write that is not an apply records the fields it added or
// changed under that manager with operation Update.
import { apiVersionOf, isRecord, jsonEqual, type KubeObject } from '../kinds.ts';
import { decodeManagedFields, isReset } from '../patch/managed-fields.ts';
import { deepEqual } from '../patch/values.ts';
import { managedAfterUpdate, setManagedFields, type Write } from '../patch/field-manager.ts';
import { zeroObject } from '../patch/kind-types.ts';
import { optionsInvalid, type FieldError, type OptionsKind } from '../status.ts';
import { checkBody } from '../store.ts';
import { timestamp } from '../timestamps.ts';
import type { HandlerContext } from './context.ts';

const MAX_MANAGER_LENGTH = 128;
// Printable ASCII (all of it letters, digits, punctuation, symbols or space) skips the Unicode test.
const printable = (c: string): boolean => (c >= ' ' && c <= '~') || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(c);

/** fieldManager: at most 128 bytes of printable characters. */
export function fieldManagerErrors(value: string): FieldError[] {
  const errs: FieldError[] = [];
  if (Buffer.byteLength(value) > MAX_MANAGER_LENGTH) errs.push({ field: 'fieldManager', type: 'Too long', detail: `may not be more than ${MAX_MANAGER_LENGTH} bytes` });
  let i = 0;
  for (const c of value) {
    if (!printable(c)) errs.push({ field: 'fieldManager', type: 'Invalid value', detail: `${JSON.stringify(value)}: invalid character U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} (at position ${i})` });
    i += Buffer.byteLength(c);
  }
  return errs;
}

/** The user agent's product (the part before the first `/`), printable characters only, cut to 128 bytes. */
function managerFromUserAgent(userAgent: string): string {
  let out = '';
  for (const c of userAgent.split('/')[0]!) {
    if (!printable(c)) continue;
    if (Buffer.byteLength(out + c) > MAX_MANAGER_LENGTH) break;
    out += c;
  }
  return out;
}

/** Who the write is by, after checking the `fieldManager` parameter. */
export function writeOf(ctx: HandlerContext, kind: Extract<OptionsKind, 'CreateOptions' | 'UpdateOptions' | 'PatchOptions'>): Write {
  const requested = ctx.req.query.get('fieldManager') ?? '';
  const errs = fieldManagerErrors(requested);
  if (errs.length) throw optionsInvalid(kind, errs);
  return { spec: ctx.target.kind.spec, subresource: ctx.target.subresource, manager: requested || managerFromUserAgent(ctx.req.userAgent ?? ''), now: timestamp(ctx.store.now()) };
}

/** The kind's empty object, where a create's fields are compared from. */
export function emptyObject(w: Write): KubeObject {
  const zero = zeroObject(w.spec) as KubeObject;
  return { ...zero, apiVersion: apiVersionOf(w.spec), kind: w.spec.kind, metadata: {} };
}

/** Records a create in `obj`, from the body as sent and defaulted, before the strategy reset anything. */
export function recordCreate(w: Write, obj: KubeObject, body: unknown): void {
  const sent = checkBody(w.spec, body);
  w.spec.defaults?.(sent);
  setManagedFields(obj, managedAfterUpdate(emptyObject(w), sent, sent.metadata.managedFields, w));
}

const decodable = (entries: unknown): boolean => {
  try {
    return decodeManagedFields(entries).size > 0;
  } catch {
    return false;
  }
};

/**
 * The body to write, with the live object's managedFields when the request's
 * cannot be used (absent, empty, undecodable), so a write that changes
 * nothing else stays a no-op. `requested` is what the request carried.
 */
export function withStartingManagedFields(body: unknown, current: KubeObject): { body: unknown; requested: unknown } {
  if (!isRecord(body) || !isRecord(body['metadata'])) return { body, requested: undefined };
  const requested = body['metadata']['managedFields'];
  // A patch leaves the live object's own list in place: it needs no decoding to be kept.
  if (requested === current.metadata.managedFields || isReset(requested) || decodable(requested)) return { body, requested };
  const metadata: Record<string, unknown> = { ...body['metadata'] };
  if (current.metadata.managedFields === undefined) delete metadata['managedFields'];
  else metadata['managedFields'] = current.metadata.managedFields;
  return { body: { ...body, metadata }, requested };
}

/**
 * The object to commit once the store has prepared `next` from `current`:
 * for an apply, `next` with the managedFields the apply computed (a status
 * write takes nothing else from its body, and an apply that only changes
 * ownership still writes); otherwise `next` with the write recorded, or
 * `current` when nothing changed at all.
 */
export function withManagedFields(w: Write, current: KubeObject, next: KubeObject, requested: unknown, applied: KubeObject | undefined): KubeObject {
  if (applied) {
    if (jsonEqual(next.metadata.managedFields, applied.metadata.managedFields)) return next;
    const out = next === current ? structuredClone(current) : next;
    setManagedFields(out, applied.metadata.managedFields);
    return out;
  }
  if (next === current) return current;
  setManagedFields(next, managedAfterUpdate(current, next, requested, w));
  // Most writes that change anything also change managedFields (a new time or
  // owner), so comparing those first spares comparing the whole objects.
  return deepEqual(next.metadata.managedFields, current.metadata.managedFields) && jsonEqual(next, current) ? current : next;
}
