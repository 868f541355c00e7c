// Field errors worded as apimachinery's field package words them, so a 422
// from a custom resource or a CustomResourceDefinition reads exactly like the
// real server's: `spec.ips: Invalid value: "string": spec.ips in body must be
// of type array: "string"`, `spec.subnet: Required value`,
// `spec.x: Unsupported value: "b": supported values: "a"`.
import { sortKeys } from '../kinds.ts';
import type { FieldError } from '../status.ts';

/** A bad value as field.Error prints it: numbers and booleans bare, strings quoted, anything else as JSON. */
export function formatValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'null';
  return JSON.stringify(sortKeys(v));
}

const withValue = (value: unknown, detail: string): string => (detail ? `${formatValue(value)}: ${detail}` : formatValue(value));

export const required = (field: string, detail = ''): FieldError => ({ field, type: 'Required value', detail });

export const forbidden = (field: string, detail: string): FieldError => ({ field, type: 'Forbidden', detail });

export const invalidValue = (field: string, value: unknown, detail: string): FieldError => ({ field, type: 'Invalid value', detail: withValue(value, detail) });

/** A value of the wrong JSON type: printed as an Invalid value, reported as FieldValueTypeInvalid. */
export const typeInvalid = (field: string, value: unknown, detail: string): FieldError => ({
  field,
  type: 'Invalid value',
  detail: withValue(value, detail),
  reason: 'FieldValueTypeInvalid',
});

export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
  const detail = supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : '';
  return { field, type: 'Unsupported value', detail: withValue(value, detail) };
}

export const duplicate = (field: string, value: unknown): FieldError => ({ field, type: 'Duplicate value', detail: formatValue(value) });

export function tooLong(field: string, max: number): FieldError {
  return { field, type: 'Too long', detail: `may not be more than ${max} ${max === 1 ? 'byte' : 'bytes'}` };
}

export function tooMany(field: string, actual: number, max: number): FieldError {
  return { field, type: 'Too many', detail: `${actual}: must have at most ${max} ${max === 1 ? 'item' : 'items'}` };
}
