// Validation of a custom resource against its CRD's openAPIV3Schema, as the
// real server does it (kube-openapi's SchemaValidator behind apiextensions'
// ValidateCustomResource): every validator that applies to the value's JSON
// kind runs, in kube-openapi's order (type, allOf/anyOf/oneOf/not, string,
// format, number, array, enum, object), and each failure becomes the field
// error kubeOpenAPIResultToFieldErrors makes of it.
//
// On update the real server ratchets (CRDValidationRatcheting, on by
// default): a value deep-equal to the old value at the same place is not
// validated again, so an object stored under an older, looser schema can
// still be updated elsewhere. Object fields and map entries correlate with
// the old object by key; list items do not.
import type { FieldError } from '../status.ts';
import { invalidValue, notSupported, required, tooLong, tooMany, typeInvalid } from './field-errors.ts';
import { numericFormat, stringFormat } from './formats.ts';
import { additionalProperties, childPath, indexPath, isNullable, isObject, items, jsonDeepEqual, jsonKind, properties, schemaTypes, type Schema } from './schema.ts';

/** No old value to ratchet against (create, or nothing at this place before). */
export const NO_OLD: unique symbol = Symbol('no old value');
export type OldValue = unknown;

/** Where a value is: `name` is its path in messages (`spec.ips[0]`), `prefix` the field path the validator was rooted at (`status`), if any. */
interface Where {
  readonly name: string;
  readonly prefix: string | undefined;
}

/** The field of an error: the prefix joined with the name; a nameless error sits at the prefix, or at `<nil>` without one. */
function fieldOf(w: Where): string {
  if (w.name === '') return w.prefix ?? '<nil>';
  return w.prefix ? `${w.prefix}.${w.name}` : w.name;
}

const child = (w: Where, key: string): Where => ({ name: childPath(w.name, key), prefix: w.prefix });
const at = (w: Where, i: number): Where => ({ name: indexPath(w.name, i), prefix: w.prefix });
const oldField = (old: OldValue, key: string): OldValue => (isObject(old) && key in old ? old[key] : NO_OLD);

/**
 * Errors of `value` against `schema`. `prefix` roots the field paths (`status`
 * when only the status is validated), `old` is the value before an update.
 */
export function validateValue(value: unknown, schema: Schema, opts: { prefix?: string; old?: OldValue } = {}): FieldError[] {
  const out: FieldError[] = [];
  validateNode(value, schema, { name: '', prefix: opts.prefix }, opts.old === undefined ? NO_OLD : opts.old, out);
  return out;
}

function validateNode(value: unknown, s: Schema, w: Where, old: OldValue, out: FieldError[]): void {
  if (old !== NO_OLD && jsonDeepEqual(value, old)) return;
  const kind = jsonKind(value);
  const types = schemaTypes(s);
  if (kind === 'null') {
    if (types.length > 0 && !isNullable(s)) out.push(typeInvalid(fieldOf(w), 'null', `${w.name} in body must be of type ${types.join(',')}: "null"`));
    checkEnum(value, s, w, out);
    return;
  }
  const typeOk = types.length === 0 || types.includes(kind) || (kind === 'integer' && types.includes('number'));
  if (!typeOk) out.push(typeInvalid(fieldOf(w), kind, `${w.name} in body must be of type ${types.join(',')}: "${kind}"`));
  checkJunctors(value, s, w, out);
  if (kind === 'string') checkString(value as string, s, w, out);
  if (kind === 'integer' || kind === 'number') checkNumber(value as number, s, w, out);
  if (kind === 'array') checkArray(value as unknown[], s, w, out);
  checkEnum(value, s, w, out);
  if (kind === 'object') checkObject(value as Record<string, unknown>, s, w, old, out);
}

const patterns = new Map<string, RegExp>();
function compiled(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (!re) patterns.set(pattern, (re = new RegExp(pattern)));
  return re;
}

/** kube-openapi's string validator stops at its first failure; the format check follows. */
function checkString(v: string, s: Schema, w: Where, out: FieldError[]): void {
  const length = [...v].length;
  const failure = (): FieldError | undefined => {
    if (typeof s['maxLength'] === 'number' && length > s['maxLength']) return tooLong(fieldOf(w), s['maxLength']);
    if (typeof s['minLength'] === 'number' && length < s['minLength']) return invalidValue(fieldOf(w), v, `${w.name} in body should be at least ${s['minLength']} chars long`);
    if (typeof s['pattern'] === 'string' && !compiled(s['pattern']).test(v)) return invalidValue(fieldOf(w), v, `${w.name} in body should match '${s['pattern']}'`);
    return undefined;
  };
  const f = failure();
  if (f) out.push(f);
  const format = typeof s['format'] === 'string' && (s['type'] === undefined || s['type'] === 'string') ? s['format'] : '';
  const check = format ? stringFormat(format) : undefined;
  if (check && !check(v)) out.push(typeInvalid(fieldOf(w), v, `${w.name} in body must be of type ${format}: ${JSON.stringify(v)}`));
}

const INT32 = [-2147483648, 2147483647] as const;
const FLOAT32_MAX = 3.4028234663852886e38;

function checkNumber(v: number, s: Schema, w: Where, out: FieldError[]): void {
  const type = typeof s['type'] === 'string' ? s['type'] : '';
  const format = numericFormat(type, typeof s['format'] === 'string' ? s['format'] : '');
  const outOfRange = (format === 'int32' && (v < INT32[0] || v > INT32[1])) || (format === 'float' && Math.abs(v) > FLOAT32_MAX);
  // A plain error in kube-openapi, so it lands at the validator's root field.
  if (outOfRange) out.push(invalidValue(w.prefix ?? '<nil>', '', `Checked value must be of type ${type} with format ${format} in ${w.name}`));
  const m = s['multipleOf'];
  if (typeof m === 'number' && m > 0 && !Number.isInteger(v / m)) out.push(invalidValue(fieldOf(w), v, `${w.name} in body should be a multiple of ${m}`));
  const max = s['maximum'];
  if (typeof max === 'number') {
    const exclusive = s['exclusiveMaximum'] === true;
    if (exclusive ? v >= max : v > max) out.push(invalidValue(fieldOf(w), v, `${w.name} in body should be less than ${exclusive ? '' : 'or equal to '}${max}`));
  }
  const min = s['minimum'];
  if (typeof min === 'number') {
    const exclusive = s['exclusiveMinimum'] === true;
    if (exclusive ? v <= min : v < min) out.push(invalidValue(fieldOf(w), v, `${w.name} in body should be greater than ${exclusive ? '' : 'or equal to '}${min}`));
  }
}

function checkArray(v: unknown[], s: Schema, w: Where, out: FieldError[]): void {
  const itemSchema = items(s);
  if (itemSchema) v.forEach((x, i) => validateNode(x, itemSchema, at(w, i), NO_OLD, out));
  if (typeof s['minItems'] === 'number' && v.length < s['minItems']) out.push(invalidValue(fieldOf(w), v.length, `${w.name} in body should have at least ${s['minItems']} items`));
  if (typeof s['maxItems'] === 'number' && v.length > s['maxItems']) out.push(tooMany(fieldOf(w), v.length, s['maxItems']));
  if (s['uniqueItems'] === true && v.some((x, i) => v.findIndex((y) => jsonDeepEqual(x, y)) !== i)) out.push(invalidValue(fieldOf(w), '', `${w.name} in body shouldn't contain duplicates`));
}

function checkEnum(v: unknown, s: Schema, w: Where, out: FieldError[]): void {
  const values = s['enum'];
  if (!Array.isArray(values) || values.length === 0 || values.some((e) => jsonDeepEqual(e, v))) return;
  out.push(notSupported(fieldOf(w), v, values.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)))));
}

function checkObject(v: Record<string, unknown>, s: Schema, w: Where, old: OldValue, out: FieldError[]): void {
  const keys = Object.keys(v);
  if (typeof s['minProperties'] === 'number' && keys.length < s['minProperties']) out.push(invalidValue(fieldOf(w), keys.length, `${w.name} in body should have at least ${s['minProperties']} properties`));
  if (typeof s['maxProperties'] === 'number' && keys.length > s['maxProperties']) out.push(tooMany(fieldOf(w), keys.length, s['maxProperties']));
  const props = properties(s) ?? {};
  const extra = additionalProperties(s);
  if (extra) for (const k of keys) if (!(k in props)) validateNode(v[k], extra, child(w, k), oldField(old, k), out);
  for (const [k, p] of Object.entries(props)) if (k in v) validateNode(v[k], p, child(w, k), oldField(old, k), out);
  const req = s['required'];
  if (Array.isArray(req)) for (const k of req) if (typeof k === 'string' && !(k in v)) out.push(required(fieldOf(child(w, k))));
}

/** allOf, anyOf, oneOf and not: each alternative is validated on its own, without ratcheting. */
function checkJunctors(v: unknown, s: Schema, w: Where, out: FieldError[]): void {
  const composite = (text: string): FieldError => invalidValue(w.prefix ?? '<nil>', '', text);
  const run = (alt: unknown): FieldError[] => {
    const errs: FieldError[] = [];
    if (isObject(alt)) validateNode(v, alt, w, NO_OLD, errs);
    return errs;
  };
  const anyOf = s['anyOf'];
  if (Array.isArray(anyOf) && anyOf.length > 0) {
    const results = anyOf.map(run);
    if (!results.some((r) => r.length === 0)) {
      out.push(composite(`${JSON.stringify(w.name)} must validate at least one schema (anyOf)`));
      out.push(...fewest(results));
    }
  }
  const oneOf = s['oneOf'];
  if (Array.isArray(oneOf) && oneOf.length > 0) {
    const results = oneOf.map(run);
    const valid = results.filter((r) => r.length === 0).length;
    if (valid !== 1) {
      out.push(composite(`${JSON.stringify(w.name)} must validate one and only one schema (oneOf). ${valid === 0 ? 'Found none valid' : `Found ${valid} valid alternatives`}`));
      if (valid === 0) out.push(...fewest(results));
    }
  }
  const allOf = s['allOf'];
  if (Array.isArray(allOf) && allOf.length > 0) {
    const results = allOf.map(run);
    const valid = results.filter((r) => r.length === 0).length;
    for (const r of results) out.push(...r);
    if (valid !== allOf.length) out.push(composite(`${JSON.stringify(w.name)} must validate all the schemas (allOf)${valid === 0 ? '. None validated' : ''}`));
  }
  if (isObject(s['not']) && run(s['not']).length === 0) out.push(composite(`${JSON.stringify(w.name)} must not validate the schema (not)`));
}

/** The failures of the alternative that came closest, as kube-openapi reports its best failure. */
const fewest = (results: FieldError[][]): FieldError[] => results.reduce((best, r) => (r.length < best.length ? r : best));
