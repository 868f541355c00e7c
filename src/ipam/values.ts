/** Small helpers for reading untrusted, parsed values (YAML, JSON, annotations). */

/** Short description of an unexpected value for messages: `"x"`, `a list`, `nothing`, ... */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An own field; null reads as absent, as Kubernetes prunes nulls of optional fields and YAML writes `key:` as null. */
export function field(obj: Record<string, unknown>, key: string): unknown {
  const v = Object.hasOwn(obj, key) ? obj[key] : undefined;
  return v === null ? undefined : v;
}
