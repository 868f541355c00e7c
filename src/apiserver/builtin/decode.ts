// Request bodies of built-in kinds decoded into their Go types, as the real
// server's JSON decoder (sigs.k8s.io/json, case-sensitive) does it: a value
// of the wrong type is a 400 worded like encoding/json's
// (`json: cannot unmarshal string into Go struct field
// LeaseSpec.spec.leaseDurationSeconds of type int32`, prefixed `Lease in
// version "v1" cannot be handled as a Lease: `); times must parse as
// metav1.Time or MicroTime and are stored re-encoded; quantities must parse;
// fields the type does not have are unknown: dropped with a warning
// (fieldValidation=Warn, the default), dropped silently (Ignore), or a 400
// listing them all (Strict).
import type { KubeObject } from '../kinds.ts';
import { isRecord } from '../kinds.ts';
import { badRequest } from '../status.ts';
import { formatGoTime, GoTimeError, parseGoTime } from './go-time.ts';
import { DECODED_KINDS, STRUCTS } from './types.generated.ts';

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

const QUANTITY = /^[+-]?[0-9.]+([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const INT_RANGE: Record<string, [number, number]> = { i32: [-(2 ** 31), 2 ** 31 - 1], i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] };

/**
 * A custom unmarshaler failed (Time, MicroTime, IntOrString, Quantity): decoding stops there,
 * and this error wins over a type error seen before, as in encoding/json.
 */
class Abort extends Error {}

/** Where the decoder is: the innermost struct, the JSON field path (no indices) and the strict path (with them). */
interface Cursor {
  readonly struct: string;
  readonly field: string;
  readonly strict: string;
}

class Decoder {
  /** The first type error, as encoding/json keeps it and decodes on. */
  typeError: string | undefined;
  readonly unknown: string[] = [];

  private mismatch(value: unknown, type: string, at: Cursor, goType: string): void {
    if (this.typeError) return;
    this.typeError = typeErrorText(value, type, at, goType);
  }

  /** A custom unmarshaler's inner type error: it stops decoding, with the field's context. */
  private abort(value: unknown, type: string, at: Cursor, goType: string): never {
    throw new Abort(typeErrorText(value, type, at, goType));
  }

  /** Decodes `value` of `type`; returns what is kept, or undefined to drop it. Custom unmarshalers' errors throw. */
  value(value: unknown, type: string, at: Cursor): unknown {
    if (value === null || value === undefined) return undefined;
    if (type === 'any') return value;
    if (type.startsWith('[]')) return this.list(value, type.slice(2), at);
    if (type.startsWith('map[')) return this.map(value, type.slice(4, -1), at);
    if (STRUCTS[type]) return isRecord(value) ? this.struct(value, type, at) : (this.mismatch(value, type, at, `v1.${type}`), undefined);
    return this.scalar(value, type, at);
  }

  private scalar(value: unknown, type: string, at: Cursor): unknown {
    switch (type) {
      case 's':
        return typeof value === 'string' ? value : (this.mismatch(value, type, at, 'string'), undefined);
      case 'b':
        return typeof value === 'boolean' ? value : (this.mismatch(value, type, at, 'bool'), undefined);
      case 'f64':
        return typeof value === 'number' ? value : (this.mismatch(value, type, at, 'float64'), undefined);
      case 'i32':
      case 'i64': {
        const [lo, hi] = INT_RANGE[type]!;
        if (typeof value === 'number' && Number.isInteger(value) && value >= lo && value <= hi) return value;
        return this.mismatch(value, type, at, type === 'i32' ? 'int32' : 'int64'), undefined;
      }
      case 'ios':
        if (typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value) && value >= INT_RANGE['i32']![0] && value <= INT_RANGE['i32']![1])) return value;
        return this.abort(value, 'i32', at, 'int32');
      case 'q':
        if ((typeof value === 'string' && QUANTITY.test(value)) || typeof value === 'number') return value;
        throw new Abort(QUANTITY_ERROR);
      case 't':
      case 'mt':
        if (typeof value !== 'string') return this.abort(value, 's', at, 'string');
        try {
          return formatGoTime(parseGoTime(value, type === 'mt'), type === 'mt');
        } catch (e) {
          if (e instanceof GoTimeError) throw new Abort(e.message);
          throw e;
        }
    }
    return value;
  }

  private list(value: unknown, item: string, at: Cursor): unknown {
    if (!Array.isArray(value)) return this.mismatch(value, `[]${item}`, at, `[]${goTypeName(item)}`), undefined;
    return value.map((v, i) => this.value(v, item, { ...at, strict: `${at.strict}[${i}]` }) ?? null);
  }

  private map(value: unknown, item: string, at: Cursor): unknown {
    if (!isRecord(value)) return this.mismatch(value, `map`, at, `map[string]${goTypeName(item)}`), undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const d = this.value(v, item, { ...at, strict: `${at.strict}[${k}]` });
      if (d !== undefined) out[k] = d;
    }
    return out;
  }

  struct(value: Record<string, unknown>, name: string, at: Cursor): Record<string, unknown> {
    const fields = STRUCTS[name]!;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const strict = at.strict ? `${at.strict}.${k}` : k;
      const type = fields[k];
      if (type === undefined) {
        this.unknown.push(strict);
        continue;
      }
      const d = this.value(v, type, { struct: name, field: at.field ? `${at.field}.${k}` : k, strict });
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
}

function typeErrorText(value: unknown, type: string, at: Cursor, goType: string): string {
  const what = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value === 'boolean' ? 'bool' : typeof value;
  const shown = what === 'number' && (type === 'i32' || type === 'i64') ? `number ${String(value)}` : what;
  const where = at.field ? `Go struct field ${at.struct}.${at.field}` : 'Go value';
  return `json: cannot unmarshal ${shown} into ${where} of type ${goType}`;
}

function goTypeName(type: string): string {
  const simple: Record<string, string> = { s: 'string', b: 'bool', i32: 'int32', i64: 'int64', f64: 'float64', t: 'v1.Time', mt: 'v1.MicroTime', ios: 'intstr.IntOrString', q: 'resource.Quantity', any: 'interface {}' };
  if (simple[type]) return simple[type];
  if (type.startsWith('[]')) return `[]${goTypeName(type.slice(2))}`;
  if (type.startsWith('map[')) return `map[string]${goTypeName(type.slice(4, -1))}`;
  return `v1.${type}`;
}

/** Whether a kind is decoded by type here. */
export function decodesByType(kind: string): boolean {
  return DECODED_KINDS[kind] !== undefined;
}

/**
 * Decodes a body of a built-in kind (already checked to be an object of that kind) into its
 * Go type: returns the object as the server keeps it and the warnings to send; throws the
 * 400 the real decoder gives.
 */
export function decodeTyped(kind: string, version: string, body: KubeObject, validation: FieldValidation): { object: KubeObject; warnings: string[] } {
  const decoder = new Decoder();
  const prefix = `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: `;
  let object: Record<string, unknown>;
  try {
    object = decoder.struct(body, DECODED_KINDS[kind]!, { struct: DECODED_KINDS[kind]!, field: '', strict: '' });
  } catch (e) {
    if (e instanceof Abort) throw badRequest(prefix + e.message);
    throw e;
  }
  if (decoder.typeError) throw badRequest(prefix + decoder.typeError);
  const unknown = decoder.unknown.map((p) => `unknown field ${JSON.stringify(p)}`);
  if (validation === 'Strict' && unknown.length) throw badRequest(`${prefix}strict decoding error: ${unknown.join(', ')}`);
  return { object: object as KubeObject, warnings: validation === 'Warn' ? unknown : [] };
}
