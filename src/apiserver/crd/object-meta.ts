// A custom resource's metadata as the real server decodes it: into a typed
// ObjectMeta and back (objectmeta.GetObjectMeta / SetObjectMeta). Fields
// ObjectMeta does not have are dropped and reported (`metadata.foo`), and
// empty optional fields vanish, as Go's omitempty drops them.
import { isObject } from './schema.ts';

/** ObjectMeta's fields and whether each is omitted when empty (everything but the pointer deletionGracePeriodSeconds). */
const OBJECT_META: Readonly<Record<string, 'omitempty' | 'keep'>> = {
  name: 'omitempty',
  generateName: 'omitempty',
  namespace: 'omitempty',
  selfLink: 'omitempty',
  uid: 'omitempty',
  resourceVersion: 'omitempty',
  generation: 'omitempty',
  creationTimestamp: 'keep',
  deletionTimestamp: 'omitempty',
  deletionGracePeriodSeconds: 'keep',
  labels: 'omitempty',
  annotations: 'omitempty',
  ownerReferences: 'omitempty',
  finalizers: 'omitempty',
  managedFields: 'omitempty',
};

const OWNER_REFERENCE = new Set(['apiVersion', 'kind', 'name', 'uid', 'controller', 'blockOwnerDeletion']);

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return isObject(v) && Object.keys(v).length === 0;
}

/**
 * Coerces `obj.metadata` in place: drops unknown fields (and unknown fields
 * of owner references) and empty omitempty fields; returns the dropped
 * unknown fields' paths in the order found.
 */
export function coerceObjectMeta(obj: Record<string, unknown>): string[] {
  const meta = obj['metadata'];
  if (!isObject(meta)) return [];
  const unknown: string[] = [];
  for (const k of Object.keys(meta)) {
    const rule = OBJECT_META[k];
    if (rule === undefined) {
      unknown.push(`metadata.${k}`);
      delete meta[k];
    } else if (rule === 'omitempty' && isEmpty(meta[k])) delete meta[k];
  }
  const owners = meta['ownerReferences'];
  if (Array.isArray(owners)) {
    owners.forEach((o, i) => {
      if (!isObject(o)) return;
      for (const k of Object.keys(o)) {
        if (OWNER_REFERENCE.has(k)) continue;
        unknown.push(`metadata.ownerReferences[${i}].${k}`);
        delete o[k];
      }
    });
  }
  return unknown;
}
