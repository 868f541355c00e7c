// metadata.ownerReferences as the real server validates them for every kind
// (ValidateOwnerReferences in apimachinery's ObjectMeta validation): each
// reference names an apiVersion with a version, a kind, a name and a uid; an
// Event may not own anything; at most one reference is the controller.
import type { FieldError } from './status.ts';

const FIELD = 'metadata.ownerReferences';
const BANNED_OWNERS = new Set(['v1/Event', 'events.k8s.io/v1/Event', 'events.k8s.io/v1beta1/Event']);

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The owner references of an object, as far as they are well formed. */
export function ownerReferences(meta: Record<string, unknown>): OwnerReference[] {
  const refs = meta['ownerReferences'];
  if (!Array.isArray(refs)) return [];
  return refs.filter((r): r is OwnerReference => typeof r === 'object' && r !== null);
}

function validateOne(ref: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  const apiVersion = text(ref['apiVersion']);
  const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
  if (!version) errs.push({ field: `${FIELD}.apiVersion`, type: 'Invalid value', detail: `${JSON.stringify(apiVersion)}: version must not be empty` });
  const kind = text(ref['kind']);
  if (!kind) errs.push({ field: `${FIELD}.kind`, type: 'Invalid value', detail: `"": must not be empty` });
  if (!text(ref['name'])) errs.push({ field: `${FIELD}.name`, type: 'Invalid value', detail: `"": must not be empty` });
  if (!text(ref['uid'])) errs.push({ field: `${FIELD}.uid`, type: 'Invalid value', detail: `"": must not be empty` });
  if (BANNED_OWNERS.has(`${apiVersion}/${kind}`)) {
    const gvk = apiVersion.includes('/') ? `${apiVersion}, Kind=${kind}` : `/${apiVersion}, Kind=${kind}`;
    errs.push({ field: FIELD, type: 'Invalid value', detail: `${gvk} is disallowed from being an owner` });
  }
  return errs;
}

/** Problems with `meta.ownerReferences`; empty when valid or absent. */
export function validateOwnerReferences(meta: Record<string, unknown>): FieldError[] {
  const refs = meta['ownerReferences'];
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) return [{ field: FIELD, type: 'Invalid value', detail: 'must be a list' }];
  const errs: FieldError[] = [];
  let controller = '';
  for (const ref of refs) {
    if (typeof ref !== 'object' || ref === null) continue;
    const r = ref as Record<string, unknown>;
    errs.push(...validateOne(r));
    if (r['controller'] !== true) continue;
    const name = `${text(r['kind'])}/${text(r['name'])}`;
    if (controller) errs.push({ field: FIELD, type: 'Invalid value', detail: `Only one reference can have Controller set to true. Found "true" in references for ${controller} and ${name}` });
    else controller = name;
  }
  return errs;
}
