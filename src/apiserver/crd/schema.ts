// A CustomResourceDefinition's openAPIV3Schema as the server reads it: plain
// JSON nodes (apiextensions.k8s.io/v1 JSONSchemaProps), with accessors for
// the keywords a structural schema uses. Every module that walks a schema
// (pruning, defaulting, validation, OpenAPI) reads it through these, so the
// meaning of a keyword is decided in one place.

/** One node of a schema, as it appears in the CRD. */
export type Schema = Readonly<Record<string, unknown>>;

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const asSchema = (v: unknown): Schema | undefined => (isObject(v) ? v : undefined);

/** `properties`, or undefined when the node declares none. */
export function properties(s: Schema | undefined): Readonly<Record<string, Schema>> | undefined {
  const p = s?.['properties'];
  return isObject(p) ? (p as Record<string, Schema>) : undefined;
}

/** The schema of array items. */
export const items = (s: Schema | undefined): Schema | undefined => asSchema(s?.['items']);

/**
 * What `additionalProperties` allows for keys outside `properties`: a schema,
 * `{}` for `true` (anything), or undefined when absent or `false`.
 */
export function additionalProperties(s: Schema | undefined): Schema | undefined {
  const a = s?.['additionalProperties'];
  if (a === true) return {};
  return asSchema(a);
}

/** The schema of a field of an object: its property, else additionalProperties. */
export function fieldSchema(s: Schema | undefined, key: string): Schema | undefined {
  return properties(s)?.[key] ?? additionalProperties(s);
}

export const flag = (s: Schema | undefined, key: string): boolean => s?.[key] === true;
export const preservesUnknownFields = (s: Schema | undefined): boolean => flag(s, 'x-kubernetes-preserve-unknown-fields');
export const isEmbeddedResource = (s: Schema | undefined): boolean => flag(s, 'x-kubernetes-embedded-resource');
export const isIntOrString = (s: Schema | undefined): boolean => flag(s, 'x-kubernetes-int-or-string');
export const isNullable = (s: Schema | undefined): boolean => flag(s, 'nullable');

/** The JSON types a node admits, as the validator names them; empty when any type is allowed. */
export function schemaTypes(s: Schema): readonly string[] {
  if (isIntOrString(s)) return ['integer', 'string'];
  return typeof s['type'] === 'string' && s['type'] !== '' ? [s['type']] : [];
}

export const hasDefault = (s: Schema | undefined): boolean => s !== undefined && 'default' in s && s['default'] !== undefined;

/** A JSON value's type in OpenAPI terms: integral numbers are `integer`, as Go decodes them. */
export function jsonKind(v: unknown): 'null' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object' {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isInteger(v) ? 'integer' : 'number';
    default:
      return 'object';
  }
}

/** Equality of JSON values, whatever their key order. */
export function jsonDeepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonDeepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => k in b && jsonDeepEqual(a[k], b[k]));
  }
  return false;
}

/** `spec` + `ips` → `spec.ips`; the root's children have no leading dot. */
export const childPath = (parent: string, key: string): string => (parent === '' ? key : `${parent}.${key}`);
export const indexPath = (parent: string, i: number): string => `${parent}[${i}]`;
