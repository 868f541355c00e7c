// How server-side apply by kubectl (field manager "kubectl") meets objects
// that client-side `kubectl apply` manages through the
// kubectl.kubernetes.io/last-applied-configuration annotation
// (managedfields/internal lastappliedmanager.go, lastappliedupdater.go):
// fields the annotation still describes are not conflicts, so moving from
// client-side to server-side apply works; and while the annotation is there,
// server-side applies keep it up to date.
import type { KubeObject } from '../kinds.ts';
import { isRecord, sortKeys } from '../kinds.ts';
import type { FieldSet } from './fieldset.ts';
import { type FieldType } from './field-types.ts';
import { compare, toFieldSet } from './typed-sets.ts';

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The only manager name these rules apply to. */
export const KUBECTL = 'kubectl';

const annotation = (o: KubeObject): string | undefined => o.metadata.annotations?.[LAST_APPLIED] || undefined;

/** Fields the annotation last applied that the live object still has as applied; undefined without a usable annotation. */
export function lastAppliedFields(live: KubeObject, apiVersion: string, type: FieldType): FieldSet | undefined {
  const text = annotation(live);
  if (!text) return undefined;
  let applied: unknown;
  try {
    applied = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(applied) || applied['apiVersion'] !== apiVersion) return undefined;
  const c = compare(applied, live, type);
  return toFieldSet(applied, type).difference(c.modified).difference(c.added).difference(c.removed);
}

/** Rewrites the annotation from the applied configuration when the object carries one. */
export function syncLastApplied(object: KubeObject, config: Record<string, unknown>): void {
  if (!annotation(object)) return;
  const copy = structuredClone(config) as KubeObject;
  const annotations = isRecord(copy.metadata) ? copy.metadata.annotations : undefined;
  if (annotations) delete annotations[LAST_APPLIED];
  object.metadata.annotations = { ...object.metadata.annotations, [LAST_APPLIED]: `${JSON.stringify(sortKeys(copy))}\n` };
}
