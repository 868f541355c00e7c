// The rules a CRD's openAPIV3Schema must obey before the real server accepts
// the CRD (apiextensions validation: ValidateCustomResourceDefinitionOpenAPISchema
// with its specStandardValidatorV3, then schema.ValidateStructural and
// defaulting.ValidateDefaults): OpenAPI v3 types only, no $ref, definitions or
// patternProperties, a type on every node, items on every array, nothing but
// name and generateName under the root metadata, defaults that validate and
// need no pruning. Field paths are written as apimachinery's field.Path
// writes them: `...openAPIV3Schema.properties[spec].properties[ips].items`.
import { fieldErrorText, type FieldError } from '../status.ts';
import { forbidden, invalidValue, notSupported, required } from './field-errors.ts';
import { wouldPrune } from './prune.ts';
import { additionalProperties, hasDefault, isEmbeddedResource, isIntOrString, isObject, items, preservesUnknownFields, properties, type Schema } from './schema.ts';
import { validateValue } from './validate-value.ts';

const OPENAPI_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const UNSUPPORTED: ReadonlyArray<[string, string]> = [
  ['id', 'id is not supported'],
  ['additionalItems', 'additionalItems is not supported'],
  ['patternProperties', 'patternProperties is not supported'],
  ['definitions', 'definitions is not supported'],
  ['dependencies', 'dependencies is not supported'],
  ['$ref', '$ref is not supported'],
];
const JUNCTORS = ['allOf', 'anyOf', 'oneOf'] as const;

type Level = 'root' | 'items' | 'field';

interface Walk {
  /** The OpenAPI keyword rules' errors, in schema order. */
  readonly errors: FieldError[];
  /** The structural invariants' errors, reported first and sorted as ValidateStructural sorts them. */
  readonly structural: FieldError[];
  /** Why defaults are forbidden here (inside the root's metadata), if they are. */
  readonly noDefaults?: string;
  readonly insideMeta: boolean;
}

const childOf = (path: string, name: string): string => `${path}.${name}`;
const keyOf = (path: string, key: string): string => `${path}[${key}]`;

/** Errors of a version's openAPIV3Schema; `path` is where it sits in the CRD. */
export function schemaErrors(schema: unknown, path: string, opts: { statusSubresource: boolean }): FieldError[] {
  if (!isObject(schema)) return [invalidValue(path, '', 'must be an object')];
  const w: Walk = { errors: [], structural: [], insideMeta: false };
  const head: FieldError[] = [];
  if (opts.statusSubresource) rootWithStatus(schema, path, { ...w, errors: head });
  if (schema['nullable'] === true) head.push(forbidden(childOf(path, 'nullable'), 'nullable cannot be true at the root'));
  visit(schema, path, 'root', w);
  const structural = w.structural.sort((a, b) => (fieldErrorText(a) < fieldErrorText(b) ? -1 : 1));
  const defaults: FieldError[] = [];
  if (structural.length === 0) checkDefaults(schema, path, true, defaults);
  return [...head, ...structural, ...defaults, ...w.errors];
}

const ROOT_WITH_STATUS = new Set(['description', 'type', 'format', 'title', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'required', 'items', 'properties', 'externalDocs', 'example', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-validations']);

/** With a status subresource the root may only hold what survives extracting `properties.status`. */
function rootWithStatus(s: Schema, path: string, w: Walk): void {
  if (s['type'] !== undefined && s['type'] !== 'object') {
    w.errors.push(invalidValue(`${path}.type`, s['type'], 'only "object" is allowed as the type at the root of the schema if the status subresource is enabled'));
    return;
  }
  if (Object.keys(s).some((k) => !ROOT_WITH_STATUS.has(k) && s[k] !== false && s[k] !== '')) {
    w.errors.push(invalidValue(path, '', `only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled`));
  }
}

function visit(s: Schema, path: string, level: Level, w: Walk): void {
  keywordErrors(s, path, w);
  structuralErrors(s, path, level, w);
  const props = properties(s);
  if (s['additionalProperties'] !== undefined && props && Object.keys(props).length > 0 && s['additionalProperties'] !== true) {
    w.errors.push(forbidden(childOf(path, 'additionalProperties'), 'additionalProperties and properties are mutual exclusive'));
  }
  const extra = isObject(s['additionalProperties']) ? additionalProperties(s) : undefined;
  if (extra) visit(extra, childOf(path, 'additionalProperties'), 'field', w.insideMeta ? { ...w, noDefaults: 'inside additionalProperties applying to object metadata' } : w);
  for (const [k, p] of Object.entries(props ?? {})) {
    const meta = (level === 'root' || isEmbeddedResource(s)) && (k === 'metadata' || k === 'kind' || k === 'apiVersion');
    const sub: Walk = meta ? { ...w, insideMeta: true, ...(level === 'root' ? { noDefaults: `in top-level ${k}` } : {}) } : w;
    if (isObject(p)) visit(p, keyOf(childOf(path, 'properties'), k), 'field', sub);
    else w.errors.push(invalidValue(keyOf(childOf(path, 'properties'), k), '', 'must be an object'));
  }
  const it = items(s);
  if (it) visit(it, childOf(path, 'items'), 'items', w);
  else if (Array.isArray(s['items'])) w.errors.push(forbidden(childOf(path, 'items'), 'items must be a schema object and not an array'));
  for (const j of JUNCTORS) if (Array.isArray(s[j])) (s[j] as unknown[]).forEach((alt, i) => isObject(alt) && nestedErrors(alt, `${childOf(path, j)}[${i}]`, isIntOrStringPattern(s, j, i), w));
  if (isObject(s['not'])) nestedErrors(s['not'], childOf(path, 'not'), false, w);
}

/** The keyword rules of specStandardValidatorV3 and ValidateCustomResourceDefinitionOpenAPISchema. */
function keywordErrors(s: Schema, path: string, w: Walk): void {
  const type = s['type'];
  if (typeof type === 'string' && type !== '' && !OPENAPI_TYPES.includes(type)) {
    if (type === 'null') w.errors.push(forbidden(childOf(path, 'type'), 'type cannot be set to null, use nullable as an alternative'));
    else w.errors.push(notSupported(childOf(path, 'type'), type, OPENAPI_TYPES));
  }
  if (hasDefault(s) && w.noDefaults !== undefined) w.errors.push(forbidden(childOf(path, 'default'), `must not be set ${w.noDefaults}`));
  for (const [k, why] of UNSUPPORTED) if (s[k] !== undefined && s[k] !== '') w.errors.push(forbidden(childOf(path, k), why));
  if (s['uniqueItems'] === true) w.errors.push(forbidden(childOf(path, 'uniqueItems'), 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));
  if (s['x-kubernetes-preserve-unknown-fields'] === false) w.errors.push(invalidValue(childOf(path, 'x-kubernetes-preserve-unknown-fields'), false, 'must be true or undefined'));
  if (w.insideMeta && isEmbeddedResource(s)) w.errors.push(forbidden(childOf(path, 'x-kubernetes-embedded-resource'), 'must not be used inside of resource meta'));
  listAndMapTypeErrors(s, path, w.errors);
  if (Array.isArray(s['x-kubernetes-validations']) && s['x-kubernetes-validations'].length > 0) {
    // Accepting rules this server cannot evaluate would store objects a cluster refuses.
    w.errors.push(forbidden(childOf(path, 'x-kubernetes-validations'), 'CEL validation rules are not supported by the tidepool test API server'));
  }
  if (typeof s['pattern'] === 'string') {
    try {
      new RegExp(s['pattern']);
    } catch (e) {
      w.errors.push(invalidValue(childOf(path, 'pattern'), s['pattern'], `must be a valid regular expression, but isn't: ${(e as Error).message}`));
    }
  }
}

function listAndMapTypeErrors(s: Schema, path: string, errors: FieldError[]): void {
  const mapType = s['x-kubernetes-map-type'];
  if (mapType !== undefined) {
    if (s['type'] !== 'object') errors.push(s['type'] ? invalidValue(childOf(path, 'type'), s['type'], 'must be object if x-kubernetes-map-type is specified') : required(childOf(path, 'type'), 'must be object if x-kubernetes-map-type is specified'));
    if (mapType !== 'atomic' && mapType !== 'granular') errors.push(notSupported(childOf(path, 'x-kubernetes-map-type'), mapType, ['atomic', 'granular']));
  }
  const listType = s['x-kubernetes-list-type'];
  if (listType !== undefined) {
    if (s['type'] !== 'array') errors.push(s['type'] ? invalidValue(childOf(path, 'type'), s['type'], 'must be array if x-kubernetes-list-type is specified') : required(childOf(path, 'type'), 'must be array if x-kubernetes-list-type is specified'));
    if (listType !== 'atomic' && listType !== 'set' && listType !== 'map') errors.push(notSupported(childOf(path, 'x-kubernetes-list-type'), listType, ['atomic', 'set', 'map']));
  }
  const keys = s['x-kubernetes-list-map-keys'];
  if (Array.isArray(keys) && keys.length > 0 && listType !== 'map') {
    errors.push(listType === undefined ? required(childOf(path, 'x-kubernetes-list-type'), 'must be map if x-kubernetes-list-map-keys is non-empty') : invalidValue(childOf(path, 'x-kubernetes-list-type'), listType, 'must be map if x-kubernetes-list-map-keys is non-empty'));
  }
  if (listType === 'map' && !(Array.isArray(keys) && keys.length > 0)) errors.push(required(childOf(path, 'x-kubernetes-list-map-keys'), 'must not be empty if x-kubernetes-list-type is map'));
}

/** schema.ValidateStructural's invariants for one node. */
function structuralErrors(s: Schema, path: string, level: Level, w: Walk): void {
  const type = typeof s['type'] === 'string' ? s['type'] : '';
  if (type === 'array' && s['items'] === undefined) w.structural.push(required(childOf(path, 'items'), 'must be specified'));
  if (level === 'root' && s['additionalProperties'] !== undefined) w.structural.push(forbidden(childOf(path, 'additionalProperties'), 'must not be used at the root'));
  if (isIntOrString(s) && preservesUnknownFields(s)) w.structural.push(invalidValue(childOf(path, 'x-kubernetes-preserve-unknown-fields'), true, 'must be false if x-kubernetes-int-or-string is true'));
  if (isIntOrString(s) && isEmbeddedResource(s)) w.structural.push(invalidValue(childOf(path, 'x-kubernetes-embedded-resource'), true, 'must be false if x-kubernetes-int-or-string is true'));
  if (isEmbeddedResource(s) && type !== 'object') {
    w.structural.push(type ? invalidValue(childOf(path, 'type'), type, 'must be object if x-kubernetes-embedded-resource is true') : required(childOf(path, 'type'), 'must be object if x-kubernetes-embedded-resource is true'));
  } else if (type === '' && !isIntOrString(s) && !preservesUnknownFields(s)) {
    const why = { root: 'must not be empty at the root', items: 'must not be empty for specified array items', field: 'must not be empty for specified object fields' }[level];
    w.structural.push(required(childOf(path, 'type'), why));
  }
  if (isEmbeddedResource(s) && s['additionalProperties'] !== undefined) w.structural.push(forbidden(childOf(path, 'additionalProperties'), 'must not be used if x-kubernetes-embedded-resource is set'));
  if (level === 'root' && type !== '' && type !== 'object') w.structural.push(invalidValue(childOf(path, 'type'), type, 'must be object at the root'));
  const checkMeta = level === 'root' || isEmbeddedResource(s);
  const props = properties(s) ?? {};
  for (const k of ['kind', 'apiVersion']) {
    const p = props[k];
    if (checkMeta && p && p['type'] !== 'string') w.structural.push(invalidValue(keyOf(childOf(path, 'properties'), k) + '.type', p['type'] ?? '', 'must be string'));
  }
  const meta = props['metadata'];
  if (meta) metadataErrors(meta, keyOf(childOf(path, 'properties'), 'metadata'), checkMeta, level === 'root', w.structural);
  if (isEmbeddedResource(s) && !preservesUnknownFields(s) && Object.keys(props).length === 0) {
    w.structural.push(required(childOf(path, 'properties'), 'must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields'));
  }
}

/** At the root, metadata may say nothing but restrict name and generateName. */
function metadataErrors(meta: Schema, path: string, checkMeta: boolean, root: boolean, errors: FieldError[]): void {
  if (checkMeta && meta['type'] !== 'object') errors.push(invalidValue(`${path}.type`, meta['type'] ?? '', 'must be object'));
  if (!root) return;
  const props = properties(meta) ?? {};
  const onlyNames = Object.keys(props).every((k) => k === 'name' || k === 'generateName');
  const rest = Object.keys(meta).filter((k) => k !== 'type' && k !== 'properties' && k !== 'default');
  if (!onlyNames || rest.length > 0) errors.push(forbidden(path, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
}

/** Whether the j-th junctor alternative is the int-or-string pattern (anyOf: [integer, string], possibly first in allOf). */
function isIntOrStringPattern(s: Schema, j: string, i: number): boolean {
  const intOrString = (alts: unknown): boolean =>
    Array.isArray(alts) && alts.length === 2 && isObject(alts[0]) && isObject(alts[1]) && alts[0]['type'] === 'integer' && alts[1]['type'] === 'string' && Object.keys(alts[0]).length === 1 && Object.keys(alts[1]).length === 1;
  if (j === 'anyOf') return intOrString(s['anyOf']);
  if (j === 'allOf' && i === 0) return isObject((s['allOf'] as unknown[])[0]) && intOrString(((s['allOf'] as unknown[])[0] as Schema)['anyOf']);
  return false;
}

/** Inside allOf/anyOf/oneOf/not only value validations may appear: no types, defaults, descriptions or extensions. */
function nestedErrors(s: Schema, path: string, typesAllowed: boolean, w: Walk): void {
  if (!typesAllowed && s['type'] !== undefined) w.structural.push(forbidden(childOf(path, 'type'), 'must be empty to be structural'));
  const banned: ReadonlyArray<[string, string]> = [
    ['additionalProperties', 'must be undefined to be structural'],
    ['default', 'must be undefined to be structural'],
    ['title', 'must be empty to be structural'],
    ['description', 'must be empty to be structural'],
    ['nullable', 'must be false to be structural'],
    ['x-kubernetes-preserve-unknown-fields', 'must be false to be structural'],
    ['x-kubernetes-embedded-resource', 'must be false to be structural'],
    ['x-kubernetes-int-or-string', 'must be false to be structural'],
    ['x-kubernetes-list-map-keys', 'must be empty to be structural'],
    ['x-kubernetes-list-type', 'must be undefined to be structural'],
    ['x-kubernetes-map-type', 'must be undefined to be structural'],
    ['x-kubernetes-validations', 'must be empty to be structural'],
  ];
  for (const [k, why] of banned) if (s[k] !== undefined && s[k] !== false && s[k] !== '') w.structural.push(forbidden(childOf(path, k), why));
  const props = properties(s) ?? {};
  if ('metadata' in props) w.structural.push(forbidden(keyOf(childOf(path, 'properties'), 'metadata'), 'must not be specified in a nested context'));
  for (const [k, p] of Object.entries(props)) if (isObject(p)) nestedErrors(p, keyOf(childOf(path, 'properties'), k), false, w);
  const it = items(s);
  if (it) nestedErrors(it, childOf(path, 'items'), false, w);
  for (const j of JUNCTORS) if (Array.isArray(s[j])) (s[j] as unknown[]).forEach((alt, i) => isObject(alt) && nestedErrors(alt, `${childOf(path, j)}[${i}]`, isIntOrStringPattern(s, j, i), w));
  if (isObject(s['not'])) nestedErrors(s['not'], childOf(path, 'not'), false, w);
}

/** Defaults must validate against their schema and survive pruning (defaulting.ValidateDefaults). */
function checkDefaults(s: Schema, path: string, root: boolean, errors: FieldError[]): void {
  if (hasDefault(s) && !root) {
    const def = s['default'];
    if (wouldPrune(def, s)) errors.push(invalidValue(childOf(path, 'default'), def, 'must not have unknown fields'));
    else errors.push(...validateValue(def, s, { prefix: childOf(path, 'default') }));
  }
  const it = items(s);
  if (it) checkDefaults(it, childOf(path, 'items'), false, errors);
  for (const [k, p] of Object.entries(properties(s) ?? {})) if (isObject(p)) checkDefaults(p, keyOf(childOf(path, 'properties'), k), false, errors);
}
