// Defaulting from a CRD's schema, as the real server applies it whenever it
// decodes a custom resource (a request body, a patched object, an object read
// from storage): a missing field whose schema has a `default` gets a copy of
// it, as does a null the schema does not allow; then defaulting goes on
// inside, so defaults of defaults apply (apiextensions' defaulting.Default).
import { additionalProperties, hasDefault, isNullable, isObject, items, properties, type Schema } from './schema.ts';

const isNonNullableNull = (v: unknown, s: Schema | undefined): boolean => v === null && s !== undefined && !isNullable(s);

export function applyDefaults(x: unknown, s: Schema | undefined): void {
  if (s === undefined) return;
  if (Array.isArray(x)) {
    const it = items(s);
    for (let i = 0; i < x.length; i++) {
      if (isNonNullableNull(x[i], it) && hasDefault(it)) x[i] = structuredClone(it!['default']);
      applyDefaults(x[i], it);
    }
    return;
  }
  if (!isObject(x)) return;
  const props = properties(s) ?? {};
  for (const [k, p] of Object.entries(props)) {
    if (hasDefault(p) && (!(k in x) || isNonNullableNull(x[k], p))) x[k] = structuredClone(p['default']);
  }
  const extra = additionalProperties(s);
  for (const k of Object.keys(x)) {
    const p = props[k];
    if (p !== undefined) applyDefaults(x[k], p);
    else if (extra !== undefined) {
      if (isNonNullableNull(x[k], extra) && hasDefault(extra)) x[k] = structuredClone(extra['default']);
      applyDefaults(x[k], extra);
    }
  }
}
