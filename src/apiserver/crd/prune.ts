// Pruning, as the real server decodes a custom resource
// (apiextensions' pruning.PruneWithOptions and objectmeta.GetObjectMeta):
// fields its schema does not declare are dropped, and their paths reported
// (`spec.foo`, `spec.routes[0].bar`, `metadata.foo`) for fieldValidation.
// Under x-kubernetes-preserve-unknown-fields nothing is dropped but declared
// fields are still pruned inside; at the root and in embedded resources,
// apiVersion, kind and metadata are left to their own decoding. Then nulls
// of fields that are neither nullable nor defaulted are dropped
// (PruneNonNullableNullsWithoutDefaults).
import { additionalProperties, fieldSchema, hasDefault, isEmbeddedResource, isNullable, isObject, items, jsonDeepEqual, preservesUnknownFields, properties, type Schema } from './schema.ts';

const META_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

interface Walk {
  path: string;
  readonly unknown: string[];
}

const key = (w: Walk, k: string): string => (w.path === '' ? k : `${w.path}.${k}`);

function pruneNode(x: unknown, s: Schema | undefined, w: Walk): void {
  if (s && preservesUnknownFields(s)) return skipPrune(x, s, w);
  if (Array.isArray(x)) return x.forEach((v, i) => descend(w, `${w.path}[${i}]`, () => pruneNode(v, s && items(s), w)));
  if (!isObject(x)) return;
  const props = properties(s) ?? {};
  const extra = additionalProperties(s);
  for (const k of Object.keys(x)) {
    if (s && isEmbeddedResource(s) && META_FIELDS.has(k)) continue;
    const p = s ? (props[k] ?? extra) : undefined;
    if (p !== undefined) descend(w, key(w, k), () => pruneNode(x[k], p, w));
    else {
      // apiVersion, kind and metadata of the resource itself are decoded elsewhere, never reported.
      if (!META_FIELDS.has(k) || w.path !== '') w.unknown.push(key(w, k));
      delete x[k];
    }
  }
}

/** Inside x-kubernetes-preserve-unknown-fields: unknown fields stay, declared ones are pruned as usual. */
function skipPrune(x: unknown, s: Schema, w: Walk): void {
  if (Array.isArray(x)) {
    const it = items(s);
    if (it) x.forEach((v, i) => descend(w, `${w.path}[${i}]`, () => skipPrune(v, it, w)));
    return;
  }
  if (!isObject(x)) return;
  for (const k of Object.keys(x)) {
    if (isEmbeddedResource(s) && META_FIELDS.has(k)) continue;
    const p = properties(s)?.[k] ?? additionalProperties(s);
    if (p !== undefined) descend(w, key(w, k), () => pruneNode(x[k], p, w));
  }
}

function descend(w: Walk, path: string, run: () => void): void {
  const saved = w.path;
  w.path = path;
  run();
  w.path = saved;
}

/**
 * Drops the fields of a custom resource its schema does not declare and
 * returns their paths, sorted as the real server sorts them. The object is
 * the resource root: an embedded resource whatever its schema says.
 */
export function pruneUnknownFields(obj: Record<string, unknown>, schema: Schema): string[] {
  const w: Walk = { path: '', unknown: [] };
  pruneNode(obj, isEmbeddedResource(schema) ? schema : { ...schema, 'x-kubernetes-embedded-resource': true }, w);
  return w.unknown.sort();
}

/** Whether pruning would change a value that is not a resource root (a default inside a schema). */
export function wouldPrune(x: unknown, schema: Schema): boolean {
  const copy = structuredClone(x);
  pruneNode(copy, schema, { path: '', unknown: [] });
  return !jsonDeepEqual(copy, x);
}

/** Drops nulls the schema neither allows nor replaces with a default. */
export function pruneNonNullableNulls(x: unknown, s: Schema | undefined): void {
  if (Array.isArray(x)) {
    for (const v of x) pruneNonNullableNulls(v, s && items(s));
    return;
  }
  if (!isObject(x)) return;
  for (const k of Object.keys(x)) {
    const fs = fieldSchema(s, k);
    if (x[k] === null && fs !== undefined && !isNullable(fs) && !hasDefault(fs)) delete x[k];
    else pruneNonNullableNulls(x[k], fs);
  }
}
